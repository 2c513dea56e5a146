"""The invoice run: find every ended, uninvoiced period and every due draft, and bill them in batches
(here, or one background job per batch)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from billing.models import (
    Invoice,
)
from billing.selectors.invoices import (
    invoice_drafts_due,
    subscriptions_due_for_invoicing,
)
from billing.services.transitions import (
    InvalidTransition,
    InvoiceNotDraft,
)
from billing_project.dispatch import job_queue
from billing_project.fields import format_instant
from billing_project.observability.metrics import invoice_run_recorded

from .finalize import invoice_finalize
from .period import invoice_grace, invoice_run_subscription

logger = logging.getLogger(__name__)

# The background job invoicing one batch (registered by billing.tasks.invoices).
RUN_BATCH_JOB = "billing.invoices_run_batch"


@dataclass
class RunSummary:
    """What an invoice run did (sync) or queued (async)."""

    at: datetime
    subscriptions: int = 0
    drafts: int = 0
    generated: int = 0
    finalized: int = 0
    failed: int = 0
    tasks: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "at": format_instant(self.at),
            "subscriptions": self.subscriptions,
            "drafts": self.drafts,
            "generated": self.generated,
            "finalized": self.finalized,
            "failed": self.failed,
            "tasks": self.tasks,
            "errors": self.errors[:20],
        }


def invoice_finalize_due_draft(*, invoice_id, at: datetime) -> bool:
    """Return whether the draft (its period ended more than the grace before `at`) was finalized now."""
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None or invoice.status != Invoice.Status.DRAFT or invoice.period_end + invoice_grace() > at:
        return False
    try:
        invoice_finalize(invoice=invoice)
    except (InvoiceNotDraft, InvalidTransition):
        return False  # someone else finalized or deleted it first
    return True


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def invoices_run_batch(*, subscription_ids: list, draft_ids: list, at: datetime) -> RunSummary:
    """Return the summary of invoicing `subscription_ids` and finalizing `draft_ids` in this process.

    A failure on one subscription is logged and counted; the others go on (the next run retries it).
    """
    started = time.perf_counter()
    summary = RunSummary(at=at, subscriptions=len(subscription_ids), drafts=len(draft_ids))
    plans: dict = {}  # plans and charges, read once per batch (a batch takes well under a second)
    for sub_id in subscription_ids:
        try:
            generated, finalized = invoice_run_subscription(subscription_id=sub_id, at=at, plans=plans)
        except Exception as exc:  # noqa: BLE001 - one bad subscription must not stop the run
            logger.exception("invoice run failed for subscription %s", sub_id)
            summary.failed += 1
            summary.errors.append(f"subscription {sub_id}: {exc}")
            continue
        summary.generated += generated
        summary.finalized += finalized
    for invoice_id in draft_ids:
        try:
            summary.finalized += invoice_finalize_due_draft(invoice_id=invoice_id, at=at)
        except Exception as exc:  # noqa: BLE001
            logger.exception("finalizing draft %s failed", invoice_id)
            summary.failed += 1
            summary.errors.append(f"invoice {invoice_id}: {exc}")
    invoice_run_recorded(part="batch", failed=summary.failed, seconds=time.perf_counter() - started)
    return summary


def invoices_run(*, at: datetime | None = None, sync: bool = False, batch_size: int = 20, progress=None) -> RunSummary:
    """Return the summary of the invoice run at `at` (default now).

    Finds every subscription with an ended, uninvoiced period (`invoiced_through` < next period end
    ≤ `at`, ended subscriptions up to `ended_at`) and every draft whose period ended more than
    BILLING_GRACE_HOURS ago. `sync` processes them here (with `progress(done, total)` calls);
    otherwise one background job (RUN_BATCH_JOB) per `batch_size` subscriptions is queued. Safe to
    re-run at any time.
    """
    started = time.perf_counter()
    at = at or timezone.now()
    sub_ids = subscriptions_due_for_invoicing(at=at)
    draft_ids = invoice_drafts_due(at=at, grace=invoice_grace())
    total = RunSummary(at=at, subscriptions=len(sub_ids), drafts=len(draft_ids))
    batches = [(batch, []) for batch in _chunks(sub_ids, batch_size)]
    batches += [([], batch) for batch in _chunks(draft_ids, batch_size)]
    if sync:
        done = 0
        for sub_batch, draft_batch in batches:
            _merge(total, invoices_run_batch(subscription_ids=sub_batch, draft_ids=draft_batch, at=at))
            done += len(sub_batch) + len(draft_batch)
            if progress:
                progress(done, len(sub_ids) + len(draft_ids))
        invoice_run_recorded(part="run", failed=0, seconds=time.perf_counter() - started)  # failures: per batch
        return total
    for sub_batch, draft_batch in batches:
        queued = job_queue(
            RUN_BATCH_JOB,
            subscription_ids=[str(i) for i in sub_batch],
            draft_ids=[str(i) for i in draft_batch],
            at=at.isoformat(),
        )
        total.tasks += 1 if queued else 0  # a batch that could not be queued stays due for the next run
    if progress:
        progress(total.tasks, total.tasks)
    return total


def _merge(total: RunSummary, part: RunSummary) -> None:
    total.generated += part.generated
    total.finalized += part.finalized
    total.failed += part.failed
    total.errors.extend(part.errors)
