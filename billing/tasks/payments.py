"""Payment tasks: charge a freshly finalized invoice, run one attempt, and the dunning sweeper (beat).

Thin: each calls the service of the same name. The sweeper is also what makes a lost task late,
never lost: it starts due retries (claimed once, whoever else runs it), resumes attempts left
`processing` (same idempotency key), and charges invoices whose first charge was never queued.
"""

from __future__ import annotations

from celery import shared_task
from django.dispatch import receiver

from billing.signals import invoice_finalized
from billing_project.dispatch import enqueue


@shared_task(name="billing.tasks.invoice_collect", acks_late=True)
def invoice_collect(invoice_id: str) -> str | None:
    """Charge a freshly finalized invoice automatically; return the attempt's status (None: not charged)."""
    from billing.services.payments.collect import invoice_collect as collect

    attempt = collect(invoice_id=invoice_id)
    return attempt.status if attempt else None


@shared_task(name="billing.tasks.payment_attempt_run", acks_late=True)
def payment_attempt_run(attempt_id: str) -> str:
    """Ask Stripe to charge one attempt (same idempotency key on every run); return its status."""
    from billing.services.payments.collect import payment_attempt_run as run

    return run(attempt_id=attempt_id).status


@shared_task(name="billing.tasks.payments_sweep")
def payments_sweep() -> dict:
    """Start due retries, resume stalled attempts, charge never-charged invoices; return the counts."""
    from billing.services.payments.sweep import payments_sweep as sweep

    return sweep()


@receiver(invoice_finalized, dispatch_uid="billing.payments.collect_on_finalize")
def _collect_on_finalize(sender, invoice_id, **kwargs) -> None:
    """Queue the automatic charge of a freshly finalized invoice (the signal is sent after commit).

    If the broker cannot take it, the payments sweeper charges the invoice later."""
    enqueue(invoice_collect, str(invoice_id))
