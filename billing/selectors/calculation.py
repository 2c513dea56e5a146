"""The one function that turns a subscription's history plus its usage into billing lines and totals.

`period_bill` cuts a period into plan segments (immediate plan changes, price overrides, pauses, the
trial and an immediate cancellation), prices each segment's base price prorated to the second and
each charge of the segment's plan (or override) over the segment's usage (tiers restart per segment
and per filter), adds the minimum commitment and the pending one-off charges, then computes the
totals in the order of contract section 6. Preview, estimate, invoices and real-time cost all read it; the
arithmetic itself lives in the pure `billing.pricing` engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from billing.models import Charge, Discount, Plan, Subscription
from billing.pricing import (
    ChargeSpec,
    OverrideSpan,
    PlanSpan,
    Segment,
    Span,
    Totals,
    compute_totals,
    fraction,
    merge_segments,
    period_seconds,
    plan_segments,
    seconds_between,
)
from billing.selectors.bill_context import bill_context
from billing.selectors.credits import credits_available as credits_available_at
from billing.selectors.discounts import discount_for_next_invoice, discount_spec
from billing.selectors.lines import BillLine, one_off_lines, segment_lines, segment_usage
from billing.selectors.terms import (
    Terms,
    charge_fields,
    pending_one_offs,
    plan_terms,
    spec_from_fields,
    subscription_overrides,
)
from billing_project.fields import format_instant, plain_decimal
from billing_project.money import fmt, fmt_price

__all__ = ["BillLine", "PeriodBill", "charge_spec", "period_bill", "segment_usage", "subscription_history"]

FRACTION_PLACES = Decimal("1E-6")


@dataclass(frozen=True)
class PeriodBill:
    """The lines and totals of one subscription period (or of its part up to a cutoff)."""

    tenant_id: str
    subscription_id: object
    currency: str
    period_start: datetime
    period_end: datetime
    lines: list[BillLine]
    totals: Totals
    discount: Discount | None
    tax_rate: Decimal
    elapsed_fraction: Decimal | None = None
    one_off_ids: tuple = ()
    # The merged segments the lines were priced on, each with its terms (not shown; for accruals).
    segments: tuple[tuple[Segment, Terms], ...] = ()


def charge_spec(charge: Charge) -> ChargeSpec:
    """Return the pure pricing spec of a catalog charge (only the fields its model uses)."""
    return spec_from_fields(charge_fields(charge))


# `discount=` default of `period_bill`: read the discount the next invoice gets.
LOOK_UP = object()


def subscription_history(subscription: Subscription) -> tuple[list[PlanSpan], list[Span]]:
    """Return the subscription's plan spans and pauses as pure spans (prefetched ones are reused)."""
    spans = [PlanSpan(s.plan_id, s.start, s.end) for s in subscription.plan_spans.all()]
    pauses = [Span(p.start, p.end) for p in subscription.pauses.all()]
    return spans, pauses


def _window_end(subscription: Subscription, period_end: datetime, cutoff: datetime | None) -> datetime:
    """Return min(period_end, cutoff, ended_at)."""
    end = period_end if cutoff is None else min(period_end, cutoff)
    if subscription.ended_at is not None:
        end = min(end, subscription.ended_at)
    return end


def subscription_segments(
    *,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    cutoff: datetime | None,
    pauses_until: datetime | None = None,
    history: tuple[list[PlanSpan], list[Span]] | None = None,
    overrides: list[OverrideSpan] = (),
) -> list[Segment]:
    """Return the plan segments of [period_start, min(period_end, cutoff, ended_at)).

    Built from the subscription's SubscriptionPlanSpan and SubscriptionPause history, its
    `trial_end` and `ended_at`. `pauses_until` closes a still-open pause at that instant (an
    estimate counts only the paused time already known); otherwise an open pause runs on.
    `history` (plan spans, pauses) is that history when the caller already read it; `overrides`
    (price overrides as spans) cut the segments further.
    """
    spans, pauses = history if history is not None else subscription_history(subscription)
    if not spans:  # a subscription created outside the services: its plan since the start
        spans = [PlanSpan(subscription.plan_id, subscription.started_at, None)]
    if pauses_until is not None:
        pauses = [p if p.end is not None else Span(p.start, max(p.start, pauses_until)) for p in pauses]
    return plan_segments(
        period_start=period_start,
        period_end=period_end,
        cutoff=_window_end(subscription, period_end, cutoff),
        plan_spans=spans,
        pauses=pauses,
        trial_end=subscription.trial_end,
        overrides=overrides,
    )


def _plans(plan_ids: set[str], cache: dict | None = None) -> dict[str, tuple[Plan, list[Charge]]]:
    """Return {plan id: (Plan, its charges in order with their metrics)} in two queries.

    With `cache` (a dict the caller keeps for a short batch), plans found there are not read again
    and the ones read are added to it.
    """
    if cache is not None:
        missing = {p for p in plan_ids if p not in cache}
        if missing:
            cache.update(_plans(missing))
        return {p: cache[p] for p in plan_ids if p in cache}
    plans = {p.id: (p, []) for p in Plan.objects.filter(id__in=plan_ids)}
    for charge in Charge.objects.filter(plan_id__in=plan_ids).select_related("metric"):
        plans[charge.plan_id][1].append(charge)
    return plans


def _terms_of(plans: dict, overrides: dict):
    """Return segment -> its Terms: the segment's plan, with the override in force applied if any."""
    cache: dict = {}

    def terms_of(segment: Segment) -> Terms:
        override = overrides.get(segment.override)
        if override is not None and override.plan_id != segment.plan_id:
            override = None
        key = (segment.plan_id, None if override is None else override.pk)
        if key not in cache:
            plan, charges = plans[segment.plan_id]
            cache[key] = plan_terms(plan, charges, override)
        return cache[key]

    return terms_of


def _bill(
    *,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    segments: list[Segment],
    at: datetime,
    credits_available: Decimal | None,
    overrides: dict,
    project_from: datetime | None = None,
    elapsed_fraction: Decimal | None = None,
    plans: dict | None = None,
    discount=LOOK_UP,
) -> PeriodBill:
    """Return the PeriodBill of `segments`: lines, then discount, tax and credits per section 6."""
    currency = subscription.currency
    terms_of = _terms_of(_plans({s.plan_id for s in segments}, plans), overrides)
    segments = merge_segments(segments, terms_of)
    lines = segment_lines(
        tenant_id=subscription.tenant_id,
        segments=segments,
        terms_of=terms_of,
        period_s=period_seconds(period_start, period_end),
        currency=currency,
        project_from=project_from,
    )
    one_offs = pending_one_offs(subscription)
    lines += one_off_lines(one_offs, subscription.plan_id, period_start, period_end)
    if discount is LOOK_UP:
        discount = discount_for_next_invoice(subscription_id=subscription.pk)
    tax_rate = Decimal(subscription.tenant.tax_rate)
    if credits_available is None:
        credits_available = credits_available_at(tenant_id=subscription.tenant_id, currency=currency, at=at)
    totals = compute_totals(
        line_amounts=[line.amount for line in lines],
        currency=currency,
        discount=discount_spec(discount),
        tax_rate=tax_rate,
        credits_available=credits_available,
    )
    return PeriodBill(
        tenant_id=subscription.tenant_id,
        subscription_id=subscription.pk,
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        lines=lines,
        totals=totals,
        discount=discount,
        tax_rate=tax_rate,
        elapsed_fraction=elapsed_fraction,
        one_off_ids=tuple(c.pk for c in one_offs),
        segments=tuple((segment, terms_of(segment)) for segment in segments),
    )


def period_bill(
    *,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    cutoff: datetime | None,
    credits_available: Decimal | None = None,
    plans: dict | None = None,
    history: tuple[list[PlanSpan], list[Span]] | None = None,
    discount=LOOK_UP,
) -> PeriodBill:
    """Return the bill of [period_start, min(period_end, cutoff, ended_at)).

    The base is prorated over the whole period's seconds, so a cut period pays only its share.
    `credits_available` None reads the tenant's credits at the cutoff (or the period end); the
    discount is the one the next invoice would get and the tax rate is the tenant's. The pending
    one-off charges of the subscription follow the usage lines.

    For a caller that bills many subscriptions in a row (the invoice run), what it already knows
    saves queries: `plans` a {plan id: (Plan, charges)} cache kept for the batch (filled as
    needed), `history` the subscription's (plan spans, pauses), `discount` the discount the next
    invoice gets (None for none). Left out, each is read here.
    """
    override_spans, overrides = subscription_overrides(subscription)
    segments = subscription_segments(
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
        cutoff=cutoff,
        history=history,
        overrides=override_spans,
    )
    return _bill(
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
        segments=segments,
        at=_window_end(subscription, period_end, cutoff),
        credits_available=credits_available,
        overrides=overrides,
        plans=plans,
        discount=discount,
    )


def preview_bill(*, subscription: Subscription, now: datetime) -> PeriodBill:
    """Return the bill the current period would produce if it ended at `now` (nothing stored).

    What the bill reads besides usage comes from one statement (`bill_context`).
    """
    context = bill_context(subscription=subscription, at=now)
    return period_bill(
        subscription=subscription,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        cutoff=now,
        credits_available=context.credits_available,
        plans=dict(context.plans),
        history=context.history,
        discount=context.discount,
    )


def estimate_bill(*, subscription: Subscription, now: datetime) -> PeriodBill:
    """Return the projected bill of the whole current period.

    The base is charged for the whole period less the trial and the paused time already known (an
    open pause counts until its `resume_at`, or until now without one); `sum`/`count` usage is
    scaled from what was recorded so far to the segment's whole window, `max`/`unique_count`/`latest`
    stand, and a `weighted_sum` level is held to the segment's end.
    """
    start, end = subscription.current_period_start, subscription.current_period_end
    pauses_until = now
    if subscription.status == Subscription.Status.PAUSED and subscription.resume_at is not None:
        pauses_until = max(now, subscription.resume_at)
    context = bill_context(subscription=subscription, at=now)
    override_spans, overrides = subscription_overrides(subscription)
    segments = subscription_segments(
        subscription=subscription,
        period_start=start,
        period_end=end,
        cutoff=None,
        pauses_until=pauses_until,
        history=context.history,
        overrides=override_spans,
    )
    elapsed = min(max(seconds_between(start, now), Decimal(0)), period_seconds(start, end))
    elapsed_fraction = fraction(elapsed, period_seconds(start, end)).quantize(FRACTION_PLACES, ROUND_HALF_UP)
    return _bill(
        subscription=subscription,
        period_start=start,
        period_end=end,
        segments=segments,
        at=now,
        credits_available=context.credits_available,
        overrides=overrides,
        project_from=now,
        elapsed_fraction=elapsed_fraction,
        plans=dict(context.plans),
        discount=context.discount,
    )


def _tier_value(tier, name: str):
    """Return a tier field from a TierLine or from a stored tier dict."""
    return tier[name] if isinstance(tier, dict) else getattr(tier, name)


def bill_line_data(line, currency: str) -> dict:
    """Return the contract's JSON of a BillLine or a stored InvoiceLine (optional keys only when they apply)."""
    data: dict = {"type": line.type, "description": line.description}
    if line.metric:
        data["metric"] = line.metric
    if getattr(line, "filter", None):
        data["filter"] = line.filter
    data["plan_id"] = line.plan_id
    data["quantity"] = plain_decimal(Decimal(line.quantity))
    if line.unit_price is not None:
        data["unit_price"] = fmt_price(line.unit_price, currency)
    data["amount"] = fmt(line.amount, currency)
    data["period_start"] = format_instant(line.period_start)
    data["period_end"] = format_instant(line.period_end)
    if line.tiers is not None:
        data["tiers"] = [
            {
                "quantity": plain_decimal(Decimal(_tier_value(t, "quantity"))),
                "unit_price": fmt_price(_tier_value(t, "unit_price"), currency),
                "amount": fmt(Decimal(_tier_value(t, "amount")), currency),
            }
            for t in line.tiers
        ]
    return data


def bill_totals_data(bill: PeriodBill) -> dict:
    """Return the bill's totals as money strings, in the order of contract section 6."""
    t, c = bill.totals, bill.currency
    return {
        "subtotal": fmt(t.subtotal, c),
        "discount": fmt(t.discount, c),
        "tax": fmt(t.tax, c),
        "total": fmt(t.total, c),
        "credits_applied": fmt(t.credits_applied, c),
        "amount_due": fmt(t.amount_due, c),
    }


def bill_data(bill: PeriodBill) -> dict:
    """Return the preview/estimate answer of a bill (plus `projected` and `elapsed_fraction` for estimates)."""
    data = {
        "tenant_id": bill.tenant_id,
        "subscription_id": str(bill.subscription_id),
        "currency": bill.currency,
        "period_start": format_instant(bill.period_start),
        "period_end": format_instant(bill.period_end),
        "lines": [bill_line_data(line, bill.currency) for line in bill.lines],
        **bill_totals_data(bill),
    }
    if bill.elapsed_fraction is not None:
        data["projected"] = True
        data["elapsed_fraction"] = plain_decimal(bill.elapsed_fraction)
    return data
