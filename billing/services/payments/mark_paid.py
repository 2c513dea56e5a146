"""Recording a payment made outside Stripe (a bank transfer): POST …/mark-paid."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, PaymentAttempt
from billing.services.payments.collect import subscription_settle
from billing.services.payments.errors import InvoicePaymentUnderway
from billing.services.transitions import InvoiceNotOpen, invoice_transition


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, reference: str, paid_at: datetime | None = None) -> Invoice:
    """Return the open `invoice` marked paid: `amount_paid` grows by what was still to pay, reference kept.

    409 for anything but an open invoice, or while a Stripe charge is processing (it could succeed too).
    """
    locked = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice.pk)
    if locked.status != Invoice.Status.OPEN:
        raise InvoiceNotOpen(
            f"Invoice {locked.number or locked.id} is {locked.status}; only an open invoice can be marked paid."
        )
    if PaymentAttempt.objects.filter(invoice=locked, status=PaymentAttempt.Status.PROCESSING).exists():
        raise InvoicePaymentUnderway("A Stripe charge of this invoice is processing; wait for its outcome.")
    invoice_transition(
        invoice=locked,
        to=Invoice.Status.PAID,
        amount_paid=locked.amount_paid + locked.amount_remaining,
        paid_at=paid_at or timezone.now(),
        payment_reference=reference,
        next_payment_attempt=None,
    )
    subscription_settle(subscription_id=locked.subscription_id)
    return locked
