"""Building blocks shared by generate, finalize and the run: pricing a period, writing a draft and its
lines, locking an invoice."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from billing.models import (
    Invoice,
    InvoiceLine,
    Subscription,
)
from billing.selectors.calculation import BillLine, PeriodBill, period_bill
from billing.selectors.invoices import (
    BillingPeriod,
    invoice_live_for_period,
)
from billing.services.transitions import invoice_record_events
from billing_project.errors import Conflict, NotFound
from billing_project.fields import format_instant
from billing_project.observability.metrics import invoices_generated_recorded


class InvoiceExists(Conflict):
    default_code = "invoice_exists"
    default_detail = "This period already has an invoice."


class NothingToInvoice(Conflict):
    default_code = "nothing_to_invoice"
    default_detail = "There is no ended period without an invoice."


# --- building blocks ---------------------------------------------------------------------------


def _label(invoice: Invoice) -> str:
    """Return how an invoice is named in messages: its number, else its id."""
    return invoice.number or str(invoice.id)


def _exists_error(invoice: Invoice) -> InvoiceExists:
    """Return the 409 naming the invoice that already covers a period."""
    return InvoiceExists(
        f"Invoice {_label(invoice)} (id {invoice.id}, {invoice.status}) already covers the period "
        f"{format_instant(invoice.period_start)} – {format_instant(invoice.period_end)}."
    )


def _bill(*, subscription: Subscription, period: BillingPeriod, credits_available: Decimal, **known) -> PeriodBill:
    """Return the bill of `period`, the base prorated over its natural period's seconds.

    `known` passes on what the caller already read (`plans`, `history`, `discount`; see period_bill).
    """
    return period_bill(
        subscription=subscription,
        period_start=period.natural_start,
        period_end=period.natural_end,
        cutoff=period.end,
        credits_available=credits_available,
        **known,
    )


def _tiers_json(line: BillLine) -> list[dict] | None:
    """Return the line's tier breakdown as JSON strings (None when the charge is not tiered)."""
    if line.tiers is None:
        return None
    return [{"quantity": str(t.quantity), "unit_price": str(t.unit_price), "amount": str(t.amount)} for t in line.tiers]


def _line_rows(invoice: Invoice, lines: list[BillLine]) -> list[InvoiceLine]:
    """Return unsaved InvoiceLine rows for the bill's lines, in order."""
    return [
        InvoiceLine(
            invoice=invoice,
            position=i,
            type=line.type,
            description=line.description[:255],
            metric=line.metric or "",
            filter=line.filter or "",
            plan_id=line.plan_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
            tiers=_tiers_json(line),
        )
        for i, line in enumerate(lines)
    ]


def _totals_fields(bill: PeriodBill) -> dict:
    """Return the invoice columns a bill sets: totals, tax rate and the discount that applied."""
    t = bill.totals
    return {
        "subtotal": t.subtotal,
        "discount": t.discount,
        "tax": t.tax,
        "total": t.total,
        "credits_applied": t.credits_applied,
        "amount_due": t.amount_due,
        "tax_rate": bill.tax_rate,
        # A discount counts as applied only when it took something off (a $0 trial invoice does
        # not use up a "once" coupon).
        "discount_applied": bill.discount if bill.discount is not None and t.discount > 0 else None,
    }


def _new_draft(*, subscription: Subscription, period: BillingPeriod, bill: PeriodBill) -> Invoice:
    """Return the unsaved draft of the subscription's period with the bill's totals."""
    return Invoice(
        tenant_id=subscription.tenant_id,
        subscription=subscription,
        status=Invoice.Status.DRAFT,
        currency=subscription.currency,
        period_start=period.start,
        period_end=period.end,
        **_totals_fields(bill),
    )


def _insert_draft(*, subscription: Subscription, period: BillingPeriod, bill: PeriodBill) -> Invoice:
    """Return a new draft with the bill's lines, or raise InvoiceExists when the period has one.

    The partial unique index (subscription, period_start) where status ≠ void is the final guard
    against two concurrent generates.
    """
    invoice = _new_draft(subscription=subscription, period=period, bill=bill)
    try:
        with transaction.atomic():
            invoice.save(force_insert=True)
    except IntegrityError:
        existing = invoice_live_for_period(subscription_id=subscription.pk, period_start=period.start)
        if existing is None:
            raise
        raise _exists_error(existing) from None
    InvoiceLine.objects.bulk_create(_line_rows(invoice, bill.lines))
    transaction.on_commit(invoices_generated_recorded)
    invoice_record_events(invoice=invoice, types=("invoice.created",))
    return invoice


def _insert_draft_if_free(*, subscription: Subscription, period: BillingPeriod, bill: PeriodBill) -> Invoice | None:
    """Return a new draft with the bill's lines, or None when the period already has an invoice.

    Like `_insert_draft`, but `INSERT … ON CONFLICT DO NOTHING RETURNING id` lets the partial
    unique index answer without an error, so no savepoint is needed around the insert (a
    concurrent generate of the same period is waited for; if it commits, this returns None).
    """
    invoice = _new_draft(subscription=subscription, period=period, bill=bill)
    query = InsertQuery(Invoice, on_conflict=OnConflict.IGNORE)
    query.insert_values([f for f in Invoice._meta.local_concrete_fields if not f.generated], [invoice])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [Invoice._meta.pk]
    [(sql, params)] = compiler.as_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    invoice._state.adding = False
    invoice._state.db = connection.alias
    InvoiceLine.objects.bulk_create(_line_rows(invoice, bill.lines))
    transaction.on_commit(invoices_generated_recorded)
    invoice_record_events(invoice=invoice, types=("invoice.created",))
    return invoice


def _lock_draft(invoice: Invoice) -> Invoice:
    """Return the invoice re-read under a row lock (404 if it is gone)."""
    locked = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("subscription__plan", "subscription__tenant", "tenant")
        .filter(pk=invoice.pk)
        .first()
    )
    if locked is None:
        raise NotFound("Invoice not found.")
    return locked
