"""Invoice tasks: the scheduled invoice run (fanned out in small batches), the final invoice of an
immediate cancel, and PDF rendering after finalize. Thin: each calls the service of the same name.

The receivers below connect the invoices area to domain signals sent (on commit) by other areas, and
`_queue_run_batch` is how the run service queues a batch (billing_project.dispatch): services never
import tasks.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.dispatch import receiver

from billing.services.invoices import RUN_BATCH_JOB
from billing.signals import invoice_finalized, subscription_ended_now
from billing_project.dispatch import enqueue, job_register
from billing_project.fields import parse_instant


@shared_task(name="billing.tasks.invoices_run")
def invoices_run(at: str | None = None) -> dict:
    """Find every ended, uninvoiced period and queue its invoicing (beat entry); return the summary."""
    from billing.services.invoices import invoices_run as run

    return run(at=parse_instant(at) if at else None).as_dict()


@shared_task(name="billing.tasks.invoices_run_batch", acks_late=True)
def invoices_run_batch(subscription_ids: list[str], draft_ids: list[str], at: str) -> dict:
    """Invoice a few subscriptions and finalize a few due drafts; return what was done."""
    from billing.services.invoices import invoices_run_batch as run_batch

    return run_batch(subscription_ids=subscription_ids, draft_ids=draft_ids, at=parse_instant(at)).as_dict()


@job_register(RUN_BATCH_JOB)
def _queue_run_batch(*, subscription_ids: list[str], draft_ids: list[str], at: str) -> bool:
    """Return whether one batch of the invoice run was queued on the worker (the next run retries it)."""
    return enqueue(invoices_run_batch, subscription_ids, draft_ids, at)


@shared_task(name="billing.tasks.invoice_generate_final", acks_late=True)
def invoice_generate_final(subscription_id: str, ended_at: str) -> int:
    """Generate the draft of an immediately canceled subscription's cut period; return how many."""
    from billing.services.invoices import invoice_generate_final as generate

    return generate(subscription_id=subscription_id, ended_at=parse_instant(ended_at))


@shared_task(name="billing.tasks.invoice_render_pdf", acks_late=True)
def invoice_render_pdf(invoice_id: str) -> int:
    """Render and store a finalized invoice's PDF; return its size in bytes."""
    from billing.services.invoices import invoice_render_pdf as render

    return len(render(invoice_id=invoice_id).pdf)


@receiver(invoice_finalized, dispatch_uid="billing.invoices.render_pdf_on_finalize")
def _render_pdf_on_finalize(sender, invoice_id, **kwargs) -> None:
    """Queue the PDF of a freshly finalized invoice (the signal is sent after commit).

    If it cannot be queued, the PDF endpoint renders and stores it on first download."""
    if getattr(settings, "BILLING_PDF_ON_FINALIZE", True):
        enqueue(invoice_render_pdf, str(invoice_id))


@receiver(subscription_ended_now, dispatch_uid="billing.invoices.final_invoice_on_cancel")
def _final_invoice_on_cancel(sender, subscription_id, ended_at, **kwargs) -> None:
    """Queue the final invoice of an immediate cancel (the signal is sent after commit).

    If it cannot be queued, the next invoice run invoices the cut period like any ended one."""
    enqueue(invoice_generate_final, str(subscription_id), ended_at.isoformat())
