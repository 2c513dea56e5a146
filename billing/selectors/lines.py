"""The lines of one bill: each segment's base price, usage per charge (and per filter), minimum, one-offs.

`segment_lines` prices each plan segment under its `Terms` (the plan, or the subscription's price
override on it): the base prorated to the second, one line per charge and one more per filter of
that charge (tiers restart per filter and per segment), then a `minimum` line when the segment's
base and usage fall short of the plan's prorated minimum commitment. `one_off_lines` follow them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from billing.models import Metric, OneOffCharge
from billing.pricing import (
    Segment,
    TierLine,
    fraction,
    minimum_shortfall,
    price_charge,
    prorate,
    scale_for_estimate,
    seconds_between,
)
from billing.selectors.terms import PricedCharge, Terms
from billing.selectors.usage import MetricUsage, charge_quantities, needs_own_read, usage_by_metric
from billing_project.money import EXACT_CONTEXT

QUANTITY_PLACES = Decimal("1E-12")
HOUR = timedelta(hours=1)
NEGOTIATED = " (negotiated)"


@dataclass(frozen=True)
class BillLine:
    """One line of a bill: a segment's base price or minimum, a charge (or filter) over it, or a one-off."""

    type: str  # "base" | "usage" | "minimum" | "one_off"
    description: str
    metric: str | None
    plan_id: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    period_start: datetime
    period_end: datetime
    tiers: tuple[TierLine, ...] | None
    filter: str | None = None
    # What priced a usage line (not shown): the charge, the filter's index, and the usage window.
    charge: PricedCharge | None = None
    filter_key: int | None = None
    usage_start: datetime | None = None
    usage_end: datetime | None = None


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


def _percent(value: Decimal) -> str:
    """Return a fraction as a percentage with one decimal ("45.2")."""
    with localcontext(EXACT_CONTEXT):
        return str((value * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def base_line(terms: Terms, segment: Segment, period_s: Decimal, currency: str) -> BillLine:
    """Return the segment's base price prorated by its un-paused, non-trial seconds."""
    share = fraction(segment.base_seconds, period_s)
    amount = prorate(terms.base_price, segment.base_seconds, period_s, currency)
    description = f"{terms.plan_name} — base price"
    if segment.usage_start >= segment.end and segment.base_seconds == 0:
        description += " (trial)"
    elif segment.base_seconds != period_s:
        description += f" (prorated {_percent(share)}%)"
    if terms.base_negotiated:
        description += NEGOTIATED
    return BillLine(
        type="base",
        description=description,
        metric=None,
        plan_id=terms.plan_id,
        quantity=share.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP),
        unit_price=terms.base_price,
        amount=amount,
        period_start=segment.start,
        period_end=segment.end,
        tiers=None,
    )


def _usage_line(
    terms: Terms, charge: PricedCharge, key: int | None, segment: Segment, quantity: Decimal, currency: str
) -> BillLine:
    """Return one charge (or one of its filters, `key`) of the segment priced over `quantity`."""
    flt = None if key is None else charge.filters[key]
    spec = charge.spec if flt is None else flt.spec
    result = price_charge(spec, quantity, currency)
    description = f"{terms.plan_name} — {charge.metric_name}" + ("" if flt is None else f" ({flt.name})")
    return BillLine(
        type="usage",
        description=description + (NEGOTIATED if charge.negotiated else ""),
        metric=charge.metric,
        plan_id=terms.plan_id,
        quantity=result.quantity,
        unit_price=result.unit_price,
        amount=result.amount,
        period_start=segment.start,
        period_end=segment.end,
        tiers=result.tiers if spec.model in ("graduated", "volume") else None,
        filter=None if flt is None else flt.name,
        charge=charge,
        filter_key=key,
        usage_start=segment.usage_start,
        usage_end=segment.usage_end,
    )


def _quantities(
    tenant_id: str, terms: Terms, segment: Segment, period_s: Decimal, project_from: datetime | None
) -> dict[str, dict[int | None, Decimal]]:
    """Return {metric: {filter index or None: quantity}} of the segment's charges (projected for an estimate).

    With `project_from` (an estimate's "now"), `sum`/`count` usage of the segment that runs past it
    is scaled to the segment's whole usage window and a `weighted_sum` level is held to its end.
    """
    start, usage_end = segment.usage_start, segment.usage_end
    if project_from is not None:
        usage_end = max(start, min(segment.usage_end, project_from))
    projecting = usage_end < segment.usage_end
    plain = [c for c in terms.charges if not needs_own_read(c)]
    usage = (
        segment_usage(
            tenant_id=tenant_id,
            start=start,
            end=usage_end,
            metrics=[Metric(code=c.metric, aggregation=c.aggregation, field=c.field) for c in plain],
        )
        if plain
        else {}
    )
    out = charge_quantities(
        tenant_id=tenant_id,
        start=start,
        end=usage_end,
        charges=[c for c in terms.charges if needs_own_read(c)],
        period_s=period_s,
        project_to=segment.usage_end if projecting else None,
    )
    out.update({c.metric: {None: usage[c.metric].quantity} for c in plain})
    if projecting:
        elapsed, whole = seconds_between(start, usage_end), seconds_between(start, segment.usage_end)
        for charge in terms.charges:
            if charge.aggregation != "weighted_sum":
                per_key = out[charge.metric]
                for key, quantity in per_key.items():
                    per_key[key] = scale_for_estimate(quantity, charge.aggregation, elapsed, whole)
    return out


def segment_lines(
    *,
    tenant_id: str,
    segments: list[Segment],
    terms_of: Callable[[Segment], Terms],
    period_s: Decimal,
    currency: str,
    project_from: datetime | None = None,
) -> list[BillLine]:
    """Return, per segment: the base line, a line per charge and per filter, then the minimum (if short)."""
    lines: list[BillLine] = []
    for segment in segments:
        terms = terms_of(segment)
        own = [base_line(terms, segment, period_s, currency)]
        if terms.charges:
            quantities = _quantities(tenant_id, terms, segment, period_s, project_from)
            for charge in terms.charges:
                for key in (None, *range(len(charge.filters))):
                    quantity = quantities[charge.metric].get(key, Decimal(0))
                    own.append(_usage_line(terms, charge, key, segment, quantity, currency))
        shortfall = minimum_shortfall(
            minimum_amount=terms.minimum_amount,
            base_seconds=segment.base_seconds,
            period_seconds=period_s,
            line_amounts=[line.amount for line in own],
            currency=currency,
        )
        lines.extend(own)
        if shortfall is not None:
            lines.append(
                BillLine(
                    type="minimum",
                    description=f"{terms.plan_name} — minimum commitment",
                    metric=None,
                    plan_id=terms.plan_id,
                    quantity=Decimal(1),
                    unit_price=None,
                    amount=shortfall,
                    period_start=segment.start,
                    period_end=segment.end,
                    tiers=None,
                )
            )
    return lines


def one_off_lines(
    charges: list[OneOffCharge], plan_id: str, period_start: datetime, period_end: datetime
) -> list[BillLine]:
    """Return a `one_off` line per pending one-off charge, in the order they were added."""
    return [
        BillLine(
            type="one_off",
            description=c.description,
            metric=None,
            plan_id=plan_id,
            quantity=Decimal(c.quantity),
            unit_price=Decimal(c.unit_price),
            amount=Decimal(c.amount),
            period_start=period_start,
            period_end=period_end,
            tiers=None,
        )
        for c in charges
    ]
