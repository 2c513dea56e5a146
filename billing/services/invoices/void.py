"""The ways an invoice stops being collectable: void an open one, mark it uncollectible, delete a draft."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.models import (
    CreditNote,
    Invoice,
)
from billing.services.credits import credits_restore
from billing.services.discounts import discount_unmark_applied
from billing.services.terms import one_off_charges_return
from billing.services.transitions import (
    InvoiceNotDraft,
    InvoiceNotOpen,
    invoice_transition,
)
from billing_project.errors import Conflict

from .drafts import _label, _lock_draft


class InvoiceHasCreditNotes(Conflict):
    default_code = "invoice_has_credit_notes"
    default_detail = "An invoice with credit notes cannot be voided."


@transaction.atomic
def invoice_void(*, invoice: Invoice) -> Invoice:
    """Return the open invoice voided: its credits restored, its discount use given back.

    The period is open again: the one-invoice-per-period index ignores void invoices, so late usage
    is accepted and a new invoice may be generated for it. Anything but `open` is 409.
    """
    locked = _lock_draft(invoice)
    if locked.status != Invoice.Status.OPEN:
        hint = " A draft is deleted, not voided." if locked.status == Invoice.Status.DRAFT else ""
        raise InvoiceNotOpen(f"Invoice {_label(locked)} is {locked.status}; only an open invoice can be voided.{hint}")
    if CreditNote.objects.filter(invoice=locked).exists():
        raise InvoiceHasCreditNotes(
            f"Invoice {_label(locked)} has credit notes; credit the rest instead of voiding it."
        )
    credits_restore(invoice=locked)
    one_off_charges_return(invoice=locked)
    if locked.discount_applied_id is not None:
        discount_unmark_applied(discount=locked.discount_applied)
    return invoice_transition(invoice=locked, to=Invoice.Status.VOID, error=InvoiceNotOpen, voided_at=timezone.now())


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice) -> Invoice:
    """Return the open invoice marked uncollectible (finance gave up collecting it); else 409."""
    locked = _lock_draft(invoice)
    if locked.status != Invoice.Status.OPEN:
        raise InvoiceNotOpen(
            f"Invoice {_label(locked)} is {locked.status}; only an open invoice can be marked uncollectible."
        )
    return invoice_transition(invoice=locked, to=Invoice.Status.UNCOLLECTIBLE, error=InvoiceNotOpen)


@transaction.atomic
def invoice_delete_draft(*, invoice: Invoice) -> None:
    """Return None after deleting a draft and its lines; anything but a draft is 409."""
    locked = _lock_draft(invoice)
    if locked.status != Invoice.Status.DRAFT:
        raise InvoiceNotDraft(f"Invoice {_label(locked)} is {locked.status}; only a draft can be deleted.")
    locked.delete()
