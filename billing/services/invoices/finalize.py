"""Finalize a draft: recompute it, number it (gapless), consume credits and mark the discount used.

Lock order, everywhere: subscription → invoice → credit grants (expiry, pk) → discount → the
number sequence row last, so concurrent finalizes never deadlock and the sequence row (which
serializes every finalize) is held only for the last few statements before commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from billing.models import (
    CreditGrant,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    Subscription,
    Tenant,
)
from billing.pricing import compute_totals
from billing.selectors.calculation import PeriodBill
from billing.selectors.credits import credit_grants_usable
from billing.selectors.invoices import (
    BillingPeriod,
    subscription_period_at,
    subscription_period_matching,
)
from billing.services.credits import credits_consume_locked
from billing.services.discounts import discount_mark_applied
from billing.services.numbering import sequence_next
from billing.services.terms import one_off_charges_mark_invoiced
from billing.services.transitions import (
    InvoiceNotDraft,
    invoice_transition_in_transaction,
)
from billing.signals import invoice_finalized
from billing_project.errors import Conflict
from billing_project.observability.metrics import invoice_finalized_recorded

from .drafts import _bill, _label, _line_rows, _lock_draft, _totals_fields

NUMBER_FORMAT = "INV-{year:04d}-{seq:06d}"


def _next_number(year: int) -> str:
    """Return the next invoice number of `year` (gapless: see `sequence_next`)."""
    return NUMBER_FORMAT.format(year=year, seq=sequence_next(InvoiceNumberSequence, year))


def _final_fields(*, invoice: Invoice, bill: PeriodBill | None, available: Decimal) -> dict:
    """Return the invoice columns finalizing sets from `bill`, or from a recomputed bill (lines rewritten).

    An invoice without a subscription keeps its lines; only the credits are worked out.
    """
    subscription = invoice.subscription
    if subscription is None:
        totals = compute_totals(
            line_amounts=list(invoice.lines.values_list("amount", flat=True)),
            currency=invoice.currency,
            discount=None,
            tax_rate=invoice.tax_rate,
            credits_available=available,
        )
        return {
            "subtotal": totals.subtotal,
            "discount": totals.discount,
            "tax": totals.tax,
            "total": totals.total,
            "credits_applied": totals.credits_applied,
            "amount_due": totals.amount_due,
        }
    if bill is None:
        period = subscription_period_matching(
            subscription=subscription, period_start=invoice.period_start, period_end=invoice.period_end
        ) or _period_as_stored(subscription, invoice)
        bill = _bill(subscription=subscription, period=period, credits_available=available)
        InvoiceLine.objects.filter(invoice=invoice).delete()
        InvoiceLine.objects.bulk_create(_line_rows(invoice, bill.lines))
    one_off_charges_mark_invoiced(ids=bill.one_off_ids, invoice=invoice)
    return _totals_fields(bill)


def _finalize_locked(
    *, invoice: Invoice, bill: PeriodBill | None, now: datetime, grants: list[CreditGrant] | None = None
) -> Invoice:
    """Return the locked draft `invoice` finalized; `bill` (computed with the locked credits) or recompute.

    Must run inside a transaction that holds the invoice row lock (and rolls back whole on an
    error: nothing here opens a savepoint). `grants` are the tenant's usable grants when the
    caller already locked them in this transaction (oldest-expiring first); else they are locked here.
    """
    if grants is None:
        grants = list(
            credit_grants_usable(tenant_id=invoice.tenant_id, currency=invoice.currency, at=now).select_for_update()
        )
    fields = _final_fields(invoice=invoice, bill=bill, available=sum((g.remaining for g in grants), Decimal(0)))
    consumed = Decimal(0)
    if fields["credits_applied"] > 0:
        consumed = credits_consume_locked(invoice=invoice, amount=fields["credits_applied"], grants=grants)
    if consumed != fields["credits_applied"]:  # impossible while the grants are locked; never bill wrongly
        raise Conflict("Credits changed while finalizing; retry.")
    if fields.get("discount_applied") is not None:
        discount_mark_applied(discount=fields["discount_applied"])
    paid = fields["amount_due"] <= 0
    extra = {"paid_at": now} if paid else {}
    number = _next_number(now.year)
    collection = _collection_method(invoice)
    invoice_transition_in_transaction(
        invoice=invoice,
        to=Invoice.Status.PAID if paid else Invoice.Status.OPEN,
        error=InvoiceNotDraft,
        number=number,
        finalized_at=now,
        due_at=now + timedelta(days=settings.BILLING_DUE_DAYS),
        collection_method=collection,
        **fields,
        **extra,
    )
    if not isinstance(collection, str):
        del invoice.collection_method  # read back lazily if anyone asks
    invoice_id = invoice.pk
    transaction.on_commit(lambda: invoice_finalized.send(sender=Invoice, invoice_id=invoice_id))
    transaction.on_commit(invoice_finalized_recorded)
    return invoice


def _collection_method(invoice: Invoice):
    """Return the tenant's collection method to copy onto the invoice (a subquery when not loaded: no round trip)."""
    if Invoice.tenant.is_cached(invoice):
        return invoice.tenant.collection_method
    return Subquery(Tenant.objects.filter(pk=OuterRef("tenant_id")).values("collection_method")[:1])


def _period_as_stored(subscription: Subscription, invoice: Invoice) -> BillingPeriod:
    """Return the invoice's own period inside the natural period containing its start."""
    natural = subscription_period_at(subscription=subscription, at=invoice.period_start)
    return BillingPeriod(invoice.period_start, invoice.period_end, natural.natural_start, natural.natural_end)


@transaction.atomic
def invoice_finalize(*, invoice: Invoice) -> Invoice:
    """Return the draft finalized: recomputed from the usage recorded by now, numbered, credits applied.

    `draft` → `open` (or straight to `paid` when nothing is due); due_at = now + BILLING_DUE_DAYS;
    the PDF is queued after commit. Anything but a draft is 409 invoice_not_draft.
    """
    locked = _lock_draft(invoice)
    if locked.status != Invoice.Status.DRAFT:
        raise InvoiceNotDraft(f"Invoice {_label(locked)} is {locked.status}; only a draft can be finalized.")
    return _finalize_locked(invoice=locked, bill=None, now=timezone.now())
