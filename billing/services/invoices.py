"""Invoices: generate drafts, finalize them (gapless numbers, credits, discount), void, delete, and
the invoice run that bills every ended period exactly once.

Lock order, everywhere: subscription → invoice → credit grants (expiry, pk) → discount → the
number sequence row last, so concurrent finalizes never deadlock and the sequence row (which
serializes every finalize) is held only for the last few statements before commit.

The invoice run bills a period in one transaction of a few round trips: the subscription lock
reads the plan/pause history and whether credits or a discount exist, the draft insert uses
ON CONFLICT instead of a savepoint, the roll reuses the locked row, and nothing on that path
opens a savepoint (an error rolls the whole period back, which is what the run wants).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, CharField, DateTimeField
from django.db.models.constants import OnConflict
from django.db.models.expressions import RawSQL
from django.db.models.signals import pre_save
from django.db.models.sql import InsertQuery
from django.dispatch import receiver
from django.utils import timezone

from billing.models import (
    CreditGrant,
    Discount,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanSpan,
)
from billing.pricing import PlanSpan, Span, compute_totals
from billing.selectors.calculation import BillLine, PeriodBill, period_bill
from billing.selectors.credits import credit_grants_usable
from billing.selectors.discounts import discount_for_next_invoice
from billing.selectors.invoices import (
    BillingPeriod,
    invoice_drafts_due,
    invoice_live_for_period,
    subscription_ended_periods,
    subscription_next_period,
    subscription_period_at,
    subscription_period_matching,
    subscriptions_due_for_invoicing,
)
from billing.services.credits import credits_consume_locked, credits_restore
from billing.services.discounts import discount_mark_applied, discount_unmark_applied
from billing.services.transitions import (
    InvalidTransition,
    InvoiceNotDraft,
    InvoiceNotOpen,
    invoice_transition,
    invoice_transition_in_transaction,
)
from billing.signals import invoice_finalized
from billing_project.errors import Conflict, NotFound, invalid
from billing_project.fields import format_instant

logger = logging.getLogger(__name__)

NUMBER_FORMAT = "INV-{year:04d}-{seq:06d}"


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
    return invoice


def _next_number(year: int) -> str:
    """Return the next invoice number of `year`, holding that year's sequence row until commit.

    Gapless: the row is bumped inside the caller's transaction, so a rollback undoes the bump too,
    and concurrent finalizes queue on the row lock and take consecutive numbers in commit order.
    One round trip (`UPDATE … RETURNING`, which takes the row lock) once the year's row exists.
    """
    table = connection.ops.quote_name(InvoiceNumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {table} SET "last_number" = "last_number" + 1 WHERE "year" = %s RETURNING "last_number"', [year]
        )
        row = cursor.fetchone()
    if row is not None:
        return NUMBER_FORMAT.format(year=year, seq=row[0])
    seq, _ = InvoiceNumberSequence.objects.select_for_update().get_or_create(year=year)
    seq.last_number += 1
    seq.save(update_fields=["last_number"])
    return NUMBER_FORMAT.format(year=year, seq=seq.last_number)


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


def _finalize_locked(
    *, invoice: Invoice, bill: PeriodBill | None, now: datetime, grants: list[CreditGrant] | None = None
) -> Invoice:
    """Return the locked draft `invoice` finalized; `bill` (computed with the locked credits) or recompute.

    Must run inside a transaction that holds the invoice row lock (and rolls back whole on an
    error: nothing here opens a savepoint). `grants` are the tenant's usable grants when the
    caller already locked them in this transaction (oldest-expiring first); else they are locked here.
    """
    subscription = invoice.subscription
    if grants is None:
        grants = list(
            credit_grants_usable(tenant_id=invoice.tenant_id, currency=invoice.currency, at=now).select_for_update()
        )
    available = sum((g.remaining for g in grants), Decimal(0))
    if subscription is None:
        # An invoice without a subscription keeps its lines; only the credits are worked out.
        totals = compute_totals(
            line_amounts=list(invoice.lines.values_list("amount", flat=True)),
            currency=invoice.currency,
            discount=None,
            tax_rate=invoice.tax_rate,
            credits_available=available,
        )
        fields = {
            "subtotal": totals.subtotal,
            "discount": totals.discount,
            "tax": totals.tax,
            "total": totals.total,
            "credits_applied": totals.credits_applied,
            "amount_due": totals.amount_due,
        }
        discount = None
    else:
        if bill is None:
            period = subscription_period_matching(
                subscription=subscription, period_start=invoice.period_start, period_end=invoice.period_end
            ) or _period_as_stored(subscription, invoice)
            bill = _bill(subscription=subscription, period=period, credits_available=available)
            InvoiceLine.objects.filter(invoice=invoice).delete()
            InvoiceLine.objects.bulk_create(_line_rows(invoice, bill.lines))
        fields = _totals_fields(bill)
        discount = fields["discount_applied"]
    consumed = Decimal(0)
    if fields["credits_applied"] > 0:
        consumed = credits_consume_locked(invoice=invoice, amount=fields["credits_applied"], grants=grants)
    if consumed != fields["credits_applied"]:  # impossible while the grants are locked; never bill wrongly
        raise Conflict("Credits changed while finalizing; retry.")
    if discount is not None:
        discount_mark_applied(discount=discount)
    paid = fields["amount_due"] <= 0
    extra = {"paid_at": now} if paid else {}
    number = _next_number(now.year)
    invoice_transition_in_transaction(
        invoice=invoice,
        to=Invoice.Status.PAID if paid else Invoice.Status.OPEN,
        error=InvoiceNotDraft,
        number=number,
        finalized_at=now,
        due_at=now + timedelta(days=settings.BILLING_DUE_DAYS),
        **fields,
        **extra,
    )
    invoice_id = invoice.pk
    transaction.on_commit(lambda: invoice_finalized.send(sender=Invoice, invoice_id=invoice_id))
    return invoice


def _period_as_stored(subscription: Subscription, invoice: Invoice) -> BillingPeriod:
    """Return the invoice's own period inside the natural period containing its start."""
    natural = subscription_period_at(subscription=subscription, at=invoice.period_start)
    return BillingPeriod(invoice.period_start, invoice.period_end, natural.natural_start, natural.natural_end)


# --- the finance API ---------------------------------------------------------------------------


@transaction.atomic
def invoice_generate_for_period(*, subscription: Subscription, period_start: datetime, period_end: datetime) -> Invoice:
    """Return a new draft for the subscription's period [period_start, period_end).

    Lines are priced from the usage recorded so far, without credits (they apply at finalize).
    Raises InvoiceExists (409) when a non-void invoice already covers the period.
    """
    period = subscription_period_matching(subscription=subscription, period_start=period_start, period_end=period_end)
    if period is None:
        natural = subscription_period_at(subscription=subscription, at=period_start)
        period = BillingPeriod(period_start, period_end, natural.natural_start, natural.natural_end)
    existing = invoice_live_for_period(subscription_id=subscription.pk, period_start=period.start)
    if existing is not None:
        raise _exists_error(existing)
    bill = _bill(subscription=subscription, period=period, credits_available=Decimal(0))
    return _insert_draft(subscription=subscription, period=period, bill=bill)


@transaction.atomic
def invoice_generate(
    *, tenant_id: str, period_start: datetime | None = None, period_end: datetime | None = None
) -> Invoice:
    """Return a new draft for one of the tenant's ended periods.

    Without a period: the most recent ended period of the tenant's subscriptions (the live one
    first) that has no non-void invoice (409 nothing_to_invoice if none). With one: it must be one
    of a subscription's ended periods or the cut period of an immediate cancel (400 invalid_period);
    a period that already has an invoice is 409 invoice_exists.
    """
    now = timezone.now()
    subscriptions = list(Subscription.objects.select_related("plan", "tenant").filter(tenant_id=tenant_id))
    # The live subscription first, then ended ones, most recently ended first.
    subscriptions.sort(key=lambda s: (s.ended_at is not None, -(s.ended_at or s.started_at).timestamp()))
    if not subscriptions:
        raise NothingToInvoice(f"Tenant {tenant_id} has no subscription to invoice.")
    if period_end is not None and period_start is None:
        raise invalid("period_start", "Give period_start together with period_end.", "required")
    if period_start is not None:
        if period_end is not None and period_end <= period_start:
            raise invalid("period_end", "period_end must be after period_start.", "invalid_period")
        for sub in subscriptions:
            period = subscription_period_matching(subscription=sub, period_start=period_start, period_end=period_end)
            if period is None:
                continue
            if period.end > now:
                raise invalid(
                    "period_end",
                    f"The period {format_instant(period.start)} – {format_instant(period.end)} has not ended yet.",
                    "invalid_period",
                )
            return invoice_generate_for_period(subscription=sub, period_start=period.start, period_end=period.end)
        raise invalid(
            "period_start",
            "Not one of the subscription's billing periods (nor the cut period of an immediate cancel).",
            "invalid_period",
        )
    for sub in subscriptions:
        periods = subscription_ended_periods(subscription=sub, now=now)
        if not periods:
            continue
        taken = set(
            Invoice.objects.filter(subscription=sub)
            .exclude(status=Invoice.Status.VOID)
            .values_list("period_start", flat=True)
        )
        for period in periods:
            if period.start not in taken:
                return invoice_generate_for_period(subscription=sub, period_start=period.start, period_end=period.end)
    raise NothingToInvoice(f"Every ended period of tenant {tenant_id} already has an invoice.")


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
    credits_restore(invoice=locked)
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


def invoice_render_pdf(*, invoice_id) -> Invoice:
    """Return the invoice with its PDF rendered and stored (finalized ones; drafts render on demand)."""
    from billing.pdf.render import render_invoice_pdf

    invoice = (
        Invoice.objects.select_related("tenant", "discount_applied")
        .prefetch_related("lines")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound("Invoice not found.")
    pdf = render_invoice_pdf(invoice)
    if invoice.status != Invoice.Status.DRAFT:
        now = timezone.now()
        Invoice.objects.filter(pk=invoice.pk).exclude(status=Invoice.Status.DRAFT).update(pdf=pdf, pdf_rendered_at=now)
        invoice.pdf_rendered_at = now
    invoice.pdf = pdf
    return invoice


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    """Return the invoice's PDF: the stored one when finalized, rendered now when missing, a draft, or stale.

    A stored PDF is stale when the invoice was paid or voided after it was rendered (it would still
    show the amount as due).
    """
    changed_at = max((t for t in (invoice.paid_at, invoice.voided_at) if t is not None), default=None)
    stale = changed_at is not None and (invoice.pdf_rendered_at is None or invoice.pdf_rendered_at < changed_at)
    if invoice.status != Invoice.Status.DRAFT and invoice.pdf and not stale:
        return bytes(invoice.pdf)
    return bytes(invoice_render_pdf(invoice_id=invoice.pk).pdf)


# --- the invoice run ---------------------------------------------------------------------------


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


def invoice_grace() -> timedelta:
    return timedelta(hours=settings.BILLING_GRACE_HOURS)


@dataclass(frozen=True)
class PeriodResult:
    """What invoicing one period did, and whether another ended period follows."""

    generated: bool
    finalized: bool
    more: bool


def _array_of(model, column: str) -> str:
    """Return SQL for the array of `column` of `model`'s rows of the outer subscription row, by start."""
    table, outer = connection.ops.quote_name(model._meta.db_table), _outer()
    return f'ARRAY(SELECT "{column}" FROM {table} WHERE "subscription_id" = {outer}."id" ORDER BY "start", "id")'


def _outer() -> str:
    """Return the quoted table name the subscription query uses as its (alias-free) base table."""
    return connection.ops.quote_name(Subscription._meta.db_table)


def _run_extras() -> dict:
    """Return the annotations `_lock_for_run` reads with the subscription (static SQL: cheap to compile)."""
    spans, pauses = SubscriptionPlanSpan, SubscriptionPause
    grants = connection.ops.quote_name(CreditGrant._meta.db_table)
    discounts = connection.ops.quote_name(Discount._meta.db_table)
    dates = ArrayField(DateTimeField())
    outer = _outer()
    return {
        "run_span_plans": RawSQL(_array_of(spans, "plan_id"), (), output_field=ArrayField(CharField())),
        "run_span_starts": RawSQL(_array_of(spans, "start"), (), output_field=dates),
        "run_span_ends": RawSQL(_array_of(spans, "end"), (), output_field=dates),
        "run_pause_starts": RawSQL(_array_of(pauses, "start"), (), output_field=dates),
        "run_pause_ends": RawSQL(_array_of(pauses, "end"), (), output_field=dates),
        "run_has_credits": RawSQL(
            f'EXISTS(SELECT 1 FROM {grants} g WHERE g."tenant_id" = {outer}."tenant_id" '
            f'AND g."currency" = {outer}."currency" AND g."remaining" > 0)',
            (),
            output_field=BooleanField(),
        ),
        "run_has_discount": RawSQL(
            f'EXISTS(SELECT 1 FROM {discounts} d WHERE d."subscription_id" = {outer}."id" AND d."active")',
            (),
            output_field=BooleanField(),
        ),
    }


def _lock_for_run(subscription_id) -> Subscription | None:
    """Return the subscription locked for invoicing, with what billing it needs read in the same query.

    Besides the row (and its plan and tenant): its plan spans and pauses (as arrays), and whether
    the tenant has any credit grant with a remaining balance and the subscription an active
    discount, so the run reads grants and the discount only when there are some.
    """
    rows = list(
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "tenant")
        .annotate(**_run_extras())
        .filter(pk=subscription_id)
        .order_by()[:1]  # one row by pk: no sort
    )
    return rows[0] if rows else None


def _run_history(sub: Subscription) -> tuple[list[PlanSpan], list[Span]]:
    """Return the (plan spans, pauses) `_lock_for_run` read with the subscription."""
    spans = [PlanSpan(p, s, e) for p, s, e in zip(sub.run_span_plans, sub.run_span_starts, sub.run_span_ends)]
    pauses = [Span(s, e) for s, e in zip(sub.run_pause_starts, sub.run_pause_ends)]
    return spans, pauses


@transaction.atomic
def _invoice_next_period(
    *, subscription_id, at: datetime, finalize: bool, roll: bool, plans: dict | None = None
) -> PeriodResult | None:
    """Return what invoicing the subscription's next ended period did, or None when none is due.

    One transaction per period with the subscription row locked: the invoice, the advance of
    `invoiced_through` and the period roll commit together or not at all, so a crash anywhere
    leaves the period to the next run, and a second runner waits and then finds nothing to do.
    Nothing inside opens a savepoint: any error rolls the whole period back. `plans` is a plan
    cache kept for the batch (see period_bill).
    """
    sub = _lock_for_run(subscription_id)
    if sub is None:
        return None
    period = subscription_next_period(subscription=sub)
    if period is None or period.end > at:
        return None
    now = timezone.now()
    finalize_now = finalize and period.end + invoice_grace() <= at
    generated = finalized = False
    grants: list[CreditGrant] = []
    if finalize_now and sub.run_has_credits:
        # One pricing pass: the bill is computed with the (locked) credits and finalized at once.
        grants = list(credit_grants_usable(tenant_id=sub.tenant_id, currency=sub.currency, at=now).select_for_update())
    discount = discount_for_next_invoice(subscription_id=sub.pk) if sub.run_has_discount else None
    bill = _bill(
        subscription=sub,
        period=period,
        credits_available=sum((g.remaining for g in grants), Decimal(0)),
        plans=plans,
        history=_run_history(sub),
        discount=discount,
    )
    # The unique index decides whether the period already has an invoice (one query fewer than
    # asking first; a re-run or a finance-generated draft gets None here).
    invoice = _insert_draft_if_free(subscription=sub, period=period, bill=bill)
    if invoice is not None:
        generated = True
        sub = _advance(sub, period, at=at, roll=roll)
        if finalize_now:
            # Last, so the number sequence row (locked by the finalize) is held only until commit.
            invoice.subscription = sub
            _finalize_locked(invoice=invoice, bill=bill, now=now, grants=grants)
            finalized = True
    else:
        existing = invoice_live_for_period(subscription_id=sub.pk, period_start=period.start)
        if existing is None:  # the invoice in the way was voided or deleted meanwhile: leave the period to a re-run
            raise Conflict("The period's invoice changed while invoicing it; retry.")
        if finalize_now and existing.status == Invoice.Status.DRAFT:
            locked = _lock_draft(existing)
            if locked.status == Invoice.Status.DRAFT:
                _finalize_locked(invoice=locked, bill=None, now=now)
                finalized = True
        sub = _advance(sub, period, at=at, roll=roll)
    following = subscription_next_period(subscription=sub)
    return PeriodResult(generated, finalized, following is not None and following.end <= at)


def _advance(sub: Subscription, period: BillingPeriod, *, at: datetime, roll: bool) -> Subscription:
    """Return the locked subscription with `invoiced_through` moved to the period end (and rolled to `at`)."""
    sub.invoiced_through = period.end
    if not roll:
        Subscription.objects.filter(pk=sub.pk).update(invoiced_through=period.end)
        return sub
    from billing.services import subscriptions as subscriptions_service

    # The roll reuses the locked row and writes invoiced_through in its own UPDATE of the period.
    with subscriptions_service.subscription_row_held(subscription=sub, save_fields=("invoiced_through",)) as held:
        rolled = subscriptions_service.subscription_roll_period(subscription_id=sub.pk, at=at)
    if not held.saved:  # the roll did not take the held row (it re-read it): write the field here
        Subscription.objects.filter(pk=sub.pk).update(invoiced_through=period.end)
        rolled.invoiced_through = period.end
    return rolled


def invoice_run_subscription(*, subscription_id, at: datetime, plans: dict | None = None) -> tuple[int, int]:
    """Return (generated, finalized) after invoicing every period of the subscription that ended by `at`.

    Each period is its own transaction, so a crash loses at most the period in progress (rolled back
    whole, its number included) and re-running continues where it stopped. `plans`: a plan cache
    shared by one batch (see period_bill); without it plans are read per period.
    """
    generated = finalized = 0
    while True:
        result = _invoice_next_period(subscription_id=subscription_id, at=at, finalize=True, roll=True, plans=plans)
        if result is None:
            return generated, finalized
        generated += result.generated
        finalized += result.finalized
        if not result.more:
            return generated, finalized


def invoice_generate_final(*, subscription_id, ended_at: datetime) -> int:
    """Return how many drafts were generated for an immediately canceled subscription.

    Its cut period [period start, ended_at) (and any earlier period the run had not reached) gets a
    draft at once and `invoiced_through` moves to `ended_at`; the invoice run finalizes the drafts
    like any other after the grace period.
    """
    count = 0
    while True:
        result = _invoice_next_period(subscription_id=subscription_id, at=ended_at, finalize=False, roll=False)
        if result is None:
            return count
        count += result.generated
        if not result.more:
            return count


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
    return summary


def invoices_run(*, at: datetime | None = None, sync: bool = False, batch_size: int = 20, progress=None) -> RunSummary:
    """Return the summary of the invoice run at `at` (default now).

    Finds every subscription with an ended, uninvoiced period (`invoiced_through` < next period end
    ≤ `at`, ended subscriptions up to `ended_at`) and every draft whose period ended more than
    BILLING_GRACE_HOURS ago. `sync` processes them here (with `progress(done, total)` calls);
    otherwise one Celery task per `batch_size` subscriptions is queued. Safe to re-run at any time.
    """
    at = at or timezone.now()
    sub_ids = subscriptions_due_for_invoicing(at=at)
    draft_ids = invoice_drafts_due(at=at, grace=invoice_grace())
    total = RunSummary(at=at, subscriptions=len(sub_ids), drafts=len(draft_ids))
    sub_batches, draft_batches = _chunks(sub_ids, batch_size), _chunks(draft_ids, batch_size)
    if sync:
        done = 0
        for batch in sub_batches:
            part = invoices_run_batch(subscription_ids=batch, draft_ids=[], at=at)
            _merge(total, part)
            done += len(batch)
            if progress:
                progress(done, len(sub_ids) + len(draft_ids))
        for batch in draft_batches:
            part = invoices_run_batch(subscription_ids=[], draft_ids=batch, at=at)
            _merge(total, part)
            done += len(batch)
            if progress:
                progress(done, len(sub_ids) + len(draft_ids))
        return total
    from billing.tasks.invoices import invoices_run_batch as batch_task

    stamp = at.isoformat()
    for batch in sub_batches:
        batch_task.delay([str(i) for i in batch], [], stamp)
        total.tasks += 1
    for batch in draft_batches:
        batch_task.delay([], [str(i) for i in batch], stamp)
        total.tasks += 1
    if progress:
        progress(total.tasks, total.tasks)
    return total


def _merge(total: RunSummary, part: RunSummary) -> None:
    total.generated += part.generated
    total.finalized += part.finalized
    total.failed += part.failed
    total.errors.extend(part.errors)


# --- immutability guards -----------------------------------------------------------------------


class InvoiceImmutable(Conflict):
    default_code = "invoice_immutable"
    default_detail = "Lines and totals of a finalized invoice cannot change."


IMMUTABLE_FIELDS = (
    "subtotal",
    "discount",
    "tax",
    "total",
    "credits_applied",
    "amount_due",
    "currency",
    "period_start",
    "period_end",
    "tax_rate",
    "number",
    "tenant_id",
    "subscription_id",
)


@receiver(pre_save, sender=InvoiceLine, dispatch_uid="billing.invoices.line_immutable_save")
def _guard_line(sender, instance: InvoiceLine, **kwargs) -> None:
    """Refuse to write a line of an invoice that has left draft (lines are only deleted with drafts)."""
    status = Invoice.objects.filter(pk=instance.invoice_id).values_list("status", flat=True).first()
    if status is not None and status != Invoice.Status.DRAFT:
        raise InvoiceImmutable(f"The lines of a {status} invoice cannot change.")


@receiver(pre_save, sender=Invoice, dispatch_uid="billing.invoices.totals_immutable")
def _guard_totals(sender, instance: Invoice, **kwargs) -> None:
    """Refuse a save() that would change the lines' totals or identity of a finalized invoice."""
    if instance._state.adding or kwargs.get("raw"):
        return
    update_fields = kwargs.get("update_fields")
    fields = [
        f
        for f in IMMUTABLE_FIELDS
        if update_fields is None or f.removesuffix("_id") in update_fields or f in update_fields
    ]
    if not fields:
        return
    stored = Invoice.objects.filter(pk=instance.pk).values("status", *fields).first()
    if stored is None or stored["status"] == Invoice.Status.DRAFT:
        return
    changed = [f for f in fields if stored[f] != getattr(instance, f)]
    if changed:
        raise InvoiceImmutable(f"Invoice {_label(instance)} is {stored['status']}: {', '.join(changed)} cannot change.")
