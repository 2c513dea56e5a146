"""The periodic payments sweep (Celery beat): dunning retries, stalled attempts, lost first charges,
refunds recorded but never sent.

Each item is claimed before it is acted on (a conditional UPDATE for retries, the attempt's own
`processing` state and idempotency key for the rest), so two beat processes or a re-run act once.
One failing item never stops the others.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from billing.services.credit_notes.refund import credit_note_refund, credit_note_refunds_stalled
from billing.services.payments.collect import invoice_collect, payment_attempt_run
from billing.services.payments.dunning import (
    invoices_never_charged,
    payment_attempts_stalled,
    payment_retries_due,
    payment_retry_claim,
)

logger = logging.getLogger(__name__)


def payments_sweep(*, now=None) -> dict:
    """Return how many retries started, stalled attempts resumed, first charges made up, refunds sent."""
    now = now or timezone.now()
    counts = {"retries": 0, "resumed": 0, "collected": 0, "refunds": 0, "errors": 0}
    for invoice_id in payment_retries_due(now=now):
        counts["retries"] += _safely(counts, _retry, invoice_id, now)
    for attempt_id in payment_attempts_stalled(now=now):
        counts["resumed"] += _safely(counts, lambda pk, _now: bool(payment_attempt_run(attempt_id=pk)), attempt_id, now)
    for invoice_id in invoices_never_charged(now=now):
        counts["collected"] += _safely(counts, lambda pk, _now: bool(invoice_collect(invoice_id=pk)), invoice_id, now)
    after = settings.BILLING_PAYMENT_RESUME_AFTER_SECONDS
    for note_id in credit_note_refunds_stalled(now=now, after_seconds=after):
        counts["refunds"] += _safely(counts, lambda pk, _now: bool(credit_note_refund(credit_note_id=pk)), note_id, now)
    return counts


def _retry(invoice_id, now) -> bool:
    attempt = payment_retry_claim(invoice_id=invoice_id, now=now)
    if attempt is None:
        return False
    payment_attempt_run(attempt_id=attempt.pk)
    return True


def _safely(counts: dict, action, pk, now) -> int:
    try:
        return int(action(pk, now))
    except Exception:  # noqa: BLE001 - one bad item must not stop the sweep; it is retried next time
        logger.exception("Payments sweep failed on %s", pk)
        counts["errors"] += 1
        return 0
