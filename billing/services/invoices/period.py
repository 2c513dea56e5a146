"""Invoice one subscription's ended periods, each in one transaction with the subscription row locked.

A period is billed in a few round trips: the subscription lock reads the plan/pause history and
whether credits or a discount exist, the draft insert uses ON CONFLICT instead of a savepoint, the
roll reuses the locked row, and nothing on that path opens a savepoint (an error rolls the whole
period back, which is what the run wants).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import connection, transaction
from django.db.models import BooleanField, CharField, DateTimeField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from billing.models import (
    CreditGrant,
    Discount,
    Invoice,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanSpan,
)
from billing.pricing import PlanSpan, Span
from billing.selectors.credits import credit_grants_usable
from billing.selectors.discounts import discount_for_next_invoice
from billing.selectors.invoices import (
    BillingPeriod,
    invoice_live_for_period,
    subscription_next_period,
)
from billing_project.errors import Conflict

from .drafts import _bill, _insert_draft_if_free, _lock_draft
from .finalize import _finalize_locked


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
    spans = [
        PlanSpan(p, s, e) for p, s, e in zip(sub.run_span_plans, sub.run_span_starts, sub.run_span_ends, strict=True)
    ]
    pauses = [Span(s, e) for s, e in zip(sub.run_pause_starts, sub.run_pause_ends, strict=True)]
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
        finalized = _finalize_existing(sub, period, now=now, finalize=finalize_now)
        sub = _advance(sub, period, at=at, roll=roll)
    following = subscription_next_period(subscription=sub)
    return PeriodResult(generated, finalized, following is not None and following.end <= at)


def _finalize_existing(sub: Subscription, period: BillingPeriod, *, now: datetime, finalize: bool) -> bool:
    """Return whether the period's existing invoice was a draft, now finalized (recomputed) as asked."""
    existing = invoice_live_for_period(subscription_id=sub.pk, period_start=period.start)
    if existing is None:  # the invoice in the way was voided or deleted meanwhile: leave the period to a re-run
        raise Conflict("The period's invoice changed while invoicing it; retry.")
    if not finalize or existing.status != Invoice.Status.DRAFT:
        return False
    locked = _lock_draft(existing)
    if locked.status != Invoice.Status.DRAFT:
        return False
    _finalize_locked(invoice=locked, bill=None, now=now)
    return True


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
