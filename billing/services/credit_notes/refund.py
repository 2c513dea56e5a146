"""Send a credit note's refund to Stripe, once.

The credit note row stays locked while Stripe is asked, with the idempotency key
`credit-note-<id>-refund-<n>`: a concurrent or retried run waits, then finds the refund recorded;
a run after a crash (Stripe answered, our commit lost) asks again with the same key and gets the
same Refund back. A refusal, or Stripe out of reach, leaves `refund_status` "failed" with the
reason; nothing is lost (the amount not refunded stays visible, finance may retry).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import CreditNote, Invoice
from billing.stripe import client as gateway
from billing_project.errors import UpstreamError
from billing_project.money import to_minor_units

Refund = CreditNote.RefundStatus


@transaction.atomic
def credit_note_refund(*, credit_note_id) -> CreditNote:
    """Return the credit note after its pending refund was sent to Stripe (a no-op once it was)."""
    invoice_id = CreditNote.objects.filter(pk=credit_note_id).values_list("invoice_id", flat=True).get()
    invoice = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice_id)
    note = CreditNote.objects.select_for_update().get(pk=credit_note_id)
    if note.refund_status != Refund.PENDING or note.stripe_refund_id or note.refund_amount <= 0:
        return note
    params = {
        "payment_intent": invoice.stripe_payment_intent_id,
        "amount": to_minor_units(note.refund_amount, note.currency),
        "metadata": {"credit_note_id": str(note.id), "credit_note_number": note.number, "invoice_id": str(invoice.id)},
    }
    try:
        refund = gateway.refund_create(params, key=note.refund_idempotency_key)
    except UpstreamError as exc:
        note.refund_status, note.refund_error = Refund.FAILED, str(exc.detail)
        note.save(update_fields=["refund_status", "refund_error", "updated_at"])
        return note
    status = getattr(refund, "status", "pending")
    if status in ("failed", "canceled"):
        note.refund_status = Refund.FAILED
    else:
        note.refund_status = Refund.SUCCEEDED if status == "succeeded" else Refund.PENDING
        invoice.amount_refunded += note.refund_amount
        Invoice.objects.filter(pk=invoice.pk).update(amount_refunded=invoice.amount_refunded)
    note.stripe_refund_id, note.refund_error = refund.id, ""
    note.save(update_fields=["refund_status", "stripe_refund_id", "refund_error", "updated_at"])
    return note


@transaction.atomic
def credit_note_refund_retry(*, credit_note: CreditNote) -> CreditNote:
    """Return the credit note with a failed refund queued again under a fresh idempotency key."""
    note = CreditNote.objects.select_for_update().get(pk=credit_note.pk)
    if note.refund_status == Refund.FAILED and not note.stripe_refund_id:
        note.refund_status, note.refund_attempts = Refund.PENDING, note.refund_attempts + 1
        note.save(update_fields=["refund_status", "refund_attempts", "updated_at"])
    return note


def credit_note_refunds_stalled(*, now=None, after_seconds: int = 120) -> list:
    """Return ids of credit notes whose refund was recorded but never sent (a crash after commit)."""
    now = now or timezone.now()
    return list(
        CreditNote.objects.filter(
            refund_status=Refund.PENDING, stripe_refund_id="", updated_at__lt=now - timedelta(seconds=after_seconds)
        ).values_list("pk", flat=True)
    )


#: Which refund_status values a Stripe refund status may replace: webhooks never move it backwards.
FORWARD = {"succeeded": {Refund.PENDING, Refund.FAILED}, "failed": {Refund.PENDING}, "canceled": {Refund.PENDING}}


@transaction.atomic
def credit_note_refund_settled(*, stripe_refund_id: str, stripe_status: str) -> int:
    """Return how many credit notes took Stripe's later word on their refund (`refund.updated`…)."""
    allowed_from = FORWARD.get(stripe_status)
    if not allowed_from or not stripe_refund_id:
        return 0
    changed = 0
    for note in CreditNote.objects.filter(stripe_refund_id=stripe_refund_id, refund_status__in=allowed_from):
        invoice = Invoice.objects.select_for_update(of=("self",)).get(pk=note.invoice_id)
        note = CreditNote.objects.select_for_update().get(pk=note.pk)
        if note.refund_status not in allowed_from:
            continue
        was_counted = note.refund_status == Refund.PENDING
        new = Refund.SUCCEEDED if stripe_status == "succeeded" else Refund.FAILED
        delta = note.refund_amount if (new == Refund.SUCCEEDED and not was_counted) else Decimal(0)
        if new == Refund.FAILED and was_counted:
            delta = -note.refund_amount
        if delta:
            Invoice.objects.filter(pk=invoice.pk).update(amount_refunded=invoice.amount_refunded + delta)
        note.refund_status = new
        note.save(update_fields=["refund_status", "updated_at"])
        changed += 1
    return changed
