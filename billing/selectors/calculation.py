"""The one function that turns a subscription's history plus its usage into billing lines and totals.

`period_bill` cuts a period into plan segments (immediate plan changes, pauses, the trial and an
immediate cancellation), prices each segment's base price prorated to the second and each charge of
the segment's plan over the segment's usage (tiers restart per segment), then computes the totals in
the order of contract section 6. Preview, estimate, invoices and real-time cost all read it; the
arithmetic itself lives in the pure `billing.pricing` engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from billing.models import Charge, Discount, Metric, Plan, Subscription
from billing.pricing import (
    ChargeSpec,
    PlanSpan,
    Segment,
    Span,
    Tier,
    TierLine,
    Totals,
    compute_totals,
    fraction,
    period_seconds,
    plan_segments,
    price_charge,
    prorate,
    scale_for_estimate,
    seconds_between,
)
from billing.selectors.credits import credits_available as credits_available_at
from billing.selectors.discounts import discount_for_next_invoice, discount_spec
from billing.selectors.usage import MetricUsage, usage_by_metric
from billing_project.fields import format_instant, plain_decimal
from billing_project.money import EXACT_CONTEXT, fmt, fmt_price

QUANTITY_PLACES = Decimal("1E-12")
FRACTION_PLACES = Decimal("1E-6")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class BillLine:
    """One line of a bill: a segment's prorated base price or one charge priced over a segment."""

    type: str  # "base" | "usage"
    description: str
    metric: str | None
    plan_id: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    period_start: datetime
    period_end: datetime
    tiers: tuple[TierLine, ...] | None


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


def charge_spec(charge: Charge) -> ChargeSpec:
    """Return the pure pricing spec of a catalog charge (only the fields its model uses)."""
    if charge.model == "per_unit":
        return ChargeSpec(model="per_unit", unit_price=charge.unit_price, free_units=charge.free_units or Decimal(0))
    if charge.model == "package":
        return ChargeSpec(
            model="package",
            free_units=charge.free_units or Decimal(0),
            package_size=charge.package_size,
            package_price=charge.package_price,
        )
    tiers = tuple(
        Tier(
            up_to=None if t.get("up_to") in (None, "") else Decimal(str(t["up_to"])),
            unit_price=Decimal(str(t.get("unit_price") or "0")),
            flat_fee=Decimal(str(t.get("flat_fee") or "0")),
        )
        for t in charge.tiers
    )
    return ChargeSpec(model=charge.model, tiers=tiers)


# `discount=` default of `period_bill`: read the discount the next invoice gets.
LOOK_UP = object()


def _history(subscription: Subscription) -> tuple[list[PlanSpan], list[Span]]:
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
) -> list[Segment]:
    """Return the plan segments of [period_start, min(period_end, cutoff, ended_at)).

    Built from the subscription's SubscriptionPlanSpan and SubscriptionPause history, its
    `trial_end` and `ended_at`. `pauses_until` closes a still-open pause at that instant (an
    estimate counts only the paused time already known); otherwise an open pause runs on.
    `history` (plan spans, pauses) is that history when the caller already read it.
    """
    spans, pauses = history if history is not None else _history(subscription)
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
    )


def segment_usage(*, tenant_id: str, start: datetime, end: datetime, metrics: list) -> dict[str, MetricUsage]:
    """Return {metric code: MetricUsage} over [start, end), exactly, reading as few raw events as possible.

    `usage_by_metric` reads whole hours from the rollups and raw events only for partial hours. A
    range ending at "now" would scan most of the current hour's raw events; instead, when the rest
    of that hour is the shorter side, this reads [start, next hour) (rollups) minus [end, next hour)
    (raw, nearly empty: events are at most minutes in the future). That is exact for sums and
    counts; a max or distinct count is taken from it only when the subtracted part cannot have
    changed it, else [start, end) is read directly.
    """
    floor = end.replace(minute=0, second=0, microsecond=0)
    ceil = floor if floor == end else floor + HOUR
    if ceil == end or ceil - end >= end - floor or start >= floor:
        return usage_by_metric(tenant_id=tenant_id, start=start, end=end, metrics=metrics)
    whole = usage_by_metric(tenant_id=tenant_id, start=start, end=ceil, metrics=metrics)
    # Only the events of the rest matter for a distinct count (any at all → read directly), and a
    # distinct scan of a short range is slow: count them as a plain `count` metric instead.
    rest = usage_by_metric(
        tenant_id=tenant_id,
        start=end,
        end=ceil,
        metrics=[Metric(code=m.code, aggregation="count") if m.aggregation == "unique_count" else m for m in metrics],
    )
    result: dict[str, MetricUsage] = {}
    unsure = []
    for metric in metrics:
        w, r = whole[metric.code], rest[metric.code]
        if r.events == 0:
            result[metric.code] = w
        elif metric.aggregation in ("sum", "count"):
            result[metric.code] = MetricUsage(
                metric.code, metric.aggregation, w.quantity - r.quantity, w.events - r.events
            )
        elif metric.aggregation == "max" and r.quantity < w.quantity:
            # the maximum was reached before `end`, so removing [end, ceil) leaves it unchanged
            result[metric.code] = MetricUsage(metric.code, metric.aggregation, w.quantity, w.events - r.events)
        else:
            unsure.append(metric)
    if unsure:
        result.update(usage_by_metric(tenant_id=tenant_id, start=start, end=end, metrics=unsure))
    return result


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


def _percent(value: Decimal) -> str:
    """Return a fraction as a percentage with one decimal ("45.2")."""
    with localcontext(EXACT_CONTEXT):
        return str((value * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _base_line(plan: Plan, segment: Segment, period_s: Decimal, currency: str) -> BillLine:
    """Return the segment's base price prorated by its un-paused, non-trial seconds."""
    share = fraction(segment.base_seconds, period_s)
    amount = prorate(plan.base_price, segment.base_seconds, period_s, currency)
    description = f"{plan.name} — base price"
    if segment.usage_start >= segment.end and segment.base_seconds == 0:
        description += " (trial)"
    elif segment.base_seconds != period_s:
        description += f" (prorated {_percent(share)}%)"
    return BillLine(
        type="base",
        description=description,
        metric=None,
        plan_id=plan.id,
        quantity=share.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP),
        unit_price=Decimal(plan.base_price),
        amount=amount,
        period_start=segment.start,
        period_end=segment.end,
        tiers=None,
    )


def _usage_line(plan: Plan, charge: Charge, segment: Segment, quantity: Decimal, currency: str) -> BillLine:
    """Return one charge of the segment's plan priced over `quantity`."""
    result = price_charge(charge_spec(charge), quantity, currency)
    tiered = charge.model in ("graduated", "volume")
    return BillLine(
        type="usage",
        description=f"{plan.name} — {charge.metric.name}",
        metric=charge.metric_id,
        plan_id=plan.id,
        quantity=result.quantity,
        unit_price=result.unit_price,
        amount=result.amount,
        period_start=segment.start,
        period_end=segment.end,
        tiers=result.tiers if tiered else None,
    )


def _segment_lines(
    *,
    subscription: Subscription,
    segments: list[Segment],
    plans: dict[str, tuple[Plan, list[Charge]]],
    period_s: Decimal,
    currency: str,
    project_from: datetime | None = None,
) -> list[BillLine]:
    """Return the base line and one usage line per charge for each segment.

    With `project_from` (an estimate's "now"), usage of `sum`/`count` metrics in the segment that
    runs past it is scaled from what was recorded up to then to the segment's whole usage window.
    """
    lines: list[BillLine] = []
    for segment in segments:
        plan, charges = plans[segment.plan_id]
        lines.append(_base_line(plan, segment, period_s, currency))
        if not charges:
            continue
        metrics = [c.metric for c in charges]
        usage_end = segment.usage_end
        if project_from is not None:
            usage_end = max(segment.usage_start, min(segment.usage_end, project_from))
        usage = segment_usage(
            tenant_id=subscription.tenant_id, start=segment.usage_start, end=usage_end, metrics=metrics
        )
        for charge in charges:
            quantity = usage[charge.metric_id].quantity
            if project_from is not None and usage_end < segment.usage_end:
                quantity = scale_for_estimate(
                    quantity,
                    charge.metric.aggregation,
                    seconds_between(segment.usage_start, usage_end),
                    seconds_between(segment.usage_start, segment.usage_end),
                )
            lines.append(_usage_line(plan, charge, segment, quantity, currency))
    return lines


def _bill(
    *,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    segments: list[Segment],
    at: datetime,
    credits_available: Decimal | None,
    project_from: datetime | None = None,
    elapsed_fraction: Decimal | None = None,
    plans: dict | None = None,
    discount=LOOK_UP,
) -> PeriodBill:
    """Return the PeriodBill of `segments`: lines, then discount, tax and credits per section 6."""
    currency = subscription.currency
    plans = _plans({s.plan_id for s in segments}, plans)
    lines = _segment_lines(
        subscription=subscription,
        segments=segments,
        plans=plans,
        period_s=period_seconds(period_start, period_end),
        currency=currency,
        project_from=project_from,
    )
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
    discount is the one the next invoice would get and the tax rate is the tenant's.

    For a caller that bills many subscriptions in a row (the invoice run), what it already knows
    saves queries: `plans` a {plan id: (Plan, charges)} cache kept for the batch (filled as
    needed), `history` the subscription's (plan spans, pauses), `discount` the discount the next
    invoice gets (None for none). Left out, each is read here.
    """
    segments = subscription_segments(
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
        cutoff=cutoff,
        history=history,
    )
    return _bill(
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
        segments=segments,
        at=_window_end(subscription, period_end, cutoff),
        credits_available=credits_available,
        plans=plans,
        discount=discount,
    )


def preview_bill(*, subscription: Subscription, now: datetime) -> PeriodBill:
    """Return the bill the current period would produce if it ended at `now` (nothing stored)."""
    return period_bill(
        subscription=subscription,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
        cutoff=now,
        credits_available=credits_available_at(
            tenant_id=subscription.tenant_id, currency=subscription.currency, at=now
        ),
    )


def estimate_bill(*, subscription: Subscription, now: datetime) -> PeriodBill:
    """Return the projected bill of the whole current period.

    The base is charged for the whole period less the trial and the paused time already known (an
    open pause counts until its `resume_at`, or until now without one); `sum`/`count` usage is
    scaled from what was recorded so far to the segment's whole window, `max`/`unique_count` stand.
    """
    start, end = subscription.current_period_start, subscription.current_period_end
    pauses_until = now
    if subscription.status == Subscription.Status.PAUSED and subscription.resume_at is not None:
        pauses_until = max(now, subscription.resume_at)
    segments = subscription_segments(
        subscription=subscription, period_start=start, period_end=end, cutoff=None, pauses_until=pauses_until
    )
    elapsed = min(max(seconds_between(start, now), Decimal(0)), period_seconds(start, end))
    elapsed_fraction = fraction(elapsed, period_seconds(start, end)).quantize(FRACTION_PLACES, ROUND_HALF_UP)
    return _bill(
        subscription=subscription,
        period_start=start,
        period_end=end,
        segments=segments,
        at=now,
        credits_available=None,
        project_from=now,
        elapsed_fraction=elapsed_fraction,
    )


def _tier_value(tier, name: str):
    """Return a tier field from a TierLine or from a stored tier dict."""
    return tier[name] if isinstance(tier, dict) else getattr(tier, name)


def bill_line_data(line, currency: str) -> dict:
    """Return the contract's JSON of one line — a BillLine or a stored InvoiceLine (optional keys only when they apply)."""
    data: dict = {"type": line.type, "description": line.description}
    if line.metric:
        data["metric"] = line.metric
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
