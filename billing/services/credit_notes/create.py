"""Create a credit note: number it, split it, apply it to what is still due, grant the credit part.

Everything happens under the invoice's row lock, which payments also take (`collect`, `mark_paid`,
the webhook), so a credit note and a payment racing on one invoice are serialized: the sum of the
notes never exceeds the total and `amount_remaining` never goes below zero. The refund part is
recorded as `refund_status` "pending" without a Stripe id and sent by `credit_note_refund` after
commit (the API calls it at once; the payments sweep picks up any that were left behind).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditGrant, CreditNote, CreditNoteNumberSequence, Invoice, PaymentAttempt
from billing.pricing.credit_notes import CreditedSoFar, CreditTooLarge, RefundTooLarge, credit_note_split
from billing.services.numbering import sequence_next
from billing.services.payments.collect import subscription_settle
from billing.services.payments.errors import InvoicePaymentUnderway
from billing.services.transitions import invoice_transition
from billing_project.errors import Conflict, invalid
from billing_project.money import quantize
from notifications.services.events import event_record

NUMBER_FORMAT = "CN-{year:04d}-{seq:06d}"
CREDITABLE = {Invoice.Status.OPEN, Invoice.Status.PAID}


class InvoiceNotCreditable(Conflict):
    default_code = "invoice_not_creditable"
    default_detail = "Only an open or paid invoice can be credited."


def _money(value, attr: str, currency: str, *, allow_zero: bool) -> Decimal:
    amount = Decimal(value)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise invalid(attr, "Must be greater than zero." if not allow_zero else "Must not be negative.", "invalid")
    if quantize(amount, currency) != amount:
        raise invalid(attr, f"{currency} amounts have at most the currency's minor-unit places.", "invalid")
    return quantize(amount, currency)


def _so_far(invoice: Invoice) -> CreditedSoFar:
    sums = CreditNote.objects.filter(invoice=invoice).aggregate(s=Sum("subtotal"), t=Sum("tax"), n=Sum("total"))
    return CreditedSoFar(subtotal=sums["s"] or Decimal(0), tax=sums["t"] or Decimal(0), total=sums["n"] or Decimal(0))


def stripe_refundable(invoice: Invoice) -> Decimal:
    """Return what was paid through Stripe on `invoice` and not yet refunded."""
    if not invoice.stripe_payment_intent_id or invoice.payment_reference:
        return Decimal(0)
    return invoice.amount_paid - invoice.amount_refunded


def _split(locked: Invoice, amount: Decimal, refund: Decimal):
    """Return the credit note's split of `amount` on the locked invoice; 400 when it is too large."""
    try:
        return credit_note_split(
            amount=amount,
            refund_amount=refund,
            invoice_net=locked.subtotal - locked.discount,
            invoice_tax=locked.tax,
            so_far=_so_far(locked),
            still_due=locked.amount_remaining if locked.status == Invoice.Status.OPEN else Decimal(0),
            refundable=stripe_refundable(locked),
            currency=locked.currency,
        )
    except CreditTooLarge as exc:
        raise invalid("amount", str(exc), "amount_too_large") from exc
    except RefundTooLarge as exc:
        raise invalid("refund_amount", str(exc), "refund_too_large") from exc


@transaction.atomic
def credit_note_create(*, invoice: Invoice, amount, reason: str, memo: str = "", refund_amount=None) -> CreditNote:
    """Return a new credit note of `amount` (tax-inclusive) on an open or paid invoice.

    409 `invoice_not_creditable` (other statuses) or `invoice_payment_underway` (a charge is in
    flight); 400 `amount_too_large` / `refund_too_large`.
    """
    locked = Invoice.objects.select_for_update(of=("self",)).get(pk=invoice.pk)
    currency = locked.currency
    amount = _money(amount, "amount", currency, allow_zero=False)
    refund = _money(refund_amount or 0, "refund_amount", currency, allow_zero=True)
    if locked.status not in CREDITABLE:
        raise InvoiceNotCreditable(
            f"Invoice {locked.number or locked.id} is {locked.status}; only open or paid invoices can be credited."
        )
    if PaymentAttempt.objects.filter(invoice=locked, status=PaymentAttempt.Status.PROCESSING).exists():
        raise InvoicePaymentUnderway("A charge of this invoice is processing; credit it once it is settled.")
    split = _split(locked, amount, refund)
    now = timezone.now()
    note = CreditNote(
        number=NUMBER_FORMAT.format(year=now.year, seq=sequence_next(CreditNoteNumberSequence, now.year)),
        invoice=locked,
        tenant_id=locked.tenant_id,
        currency=currency,
        reason=reason,
        memo=memo or "",
        subtotal=split.subtotal,
        tax=split.tax,
        total=split.total,
        applied_amount=split.applied_amount,
        refund_amount=split.refund_amount,
        credit_amount=split.credit_amount,
        refund_status=CreditNote.RefundStatus.PENDING if split.refund_amount > 0 else "",
    )
    note.full_clean(exclude=["invoice", "tenant", "credit_grant"])
    if split.credit_amount > 0:
        note.credit_grant = CreditGrant.objects.create(
            tenant_id=locked.tenant_id,
            subscription_id=locked.subscription_id,
            amount=split.credit_amount,
            remaining=split.credit_amount,
            currency=currency,
            reason=f"Credit note {note.number} on invoice {locked.number}",
        )
    note.save()
    event_record(type="credit_note.created", tenant_id=note.tenant_id, obj=note)
    _apply_to_invoice(locked, split.total, split.applied_amount, now)
    return note


def _apply_to_invoice(invoice: Invoice, total: Decimal, applied: Decimal, now) -> None:
    """Add the note to the locked invoice's sums; an open invoice with nothing left due becomes paid."""
    invoice.amount_credited += total
    invoice.amount_credit_applied += applied
    Invoice.objects.filter(pk=invoice.pk).update(
        amount_credited=invoice.amount_credited, amount_credit_applied=invoice.amount_credit_applied
    )
    if invoice.status == Invoice.Status.OPEN and invoice.amount_remaining <= 0:
        invoice_transition(invoice=invoice, to=Invoice.Status.PAID, paid_at=now, next_payment_attempt=None)
        subscription_settle(subscription_id=invoice.subscription_id)
