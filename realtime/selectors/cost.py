"""Real-time cost of a tenant's current billing period, priced on usage read by `billing.selectors.usage`.

`realtime_current` is the preview's bill (`billing.selectors.calculation.preview_bill`) in the
shape of contract section 8. `realtime_by_dimension` splits each usage line's amount across resources
(or cost centers) in proportion to their quantity with `money.allocate`, so the parts add up to the
line exactly. `realtime_timeline` prices the usage accumulated up to each bucket's end, tiers and
all, from one read of the hourly rollups per plan segment.

Every quantity is exact over its half-open window (whole hours from the rollups, the partial hours
at the edges from raw events, the current hour from its rollup row when nothing is stamped after
"now" in it): see `billing.selectors.usage.dimensions` and `.hourly`.
Measured by bench/realtime.py (p99 ≤ 50 ms for a tenant with 10 million events in the period).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from billing.models import Metric, Subscription
from billing.pricing import CHARGE_MODELS, period_seconds, validate_charge
from billing.selectors.calculation import PeriodBill, preview_bill
from billing.selectors.subscriptions import subscription_live_for_tenant
from billing.selectors.usage import (
    dimension_quantities,
    hourly_quantities,
    line_quantities_by,
    line_series,
    needs_own_read,
)
from billing.selectors.usage.windows import floor_hour
from billing_project.errors import NotFound, invalid
from billing_project.money import EXACT_CONTEXT, allocate, minor_unit, zero

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MAX_BUCKETS = 10_000


class NoSubscription(NotFound):
    default_code = "no_subscription"
    default_detail = "The tenant has no live subscription."


@dataclass(frozen=True)
class MetricCost:
    metric: str
    quantity: Decimal
    amount: Decimal


@dataclass(frozen=True)
class CurrentCost:
    """The current period's cost so far: the preview's numbers."""

    tenant_id: str
    currency: str
    period_start: datetime
    period_end: datetime
    as_of: datetime
    base: Decimal
    usage: Decimal
    discount: Decimal
    total: Decimal
    by_metric: list[MetricCost]
    bill: PeriodBill


@dataclass(frozen=True)
class DimensionCost:
    """Usage cost of one metric attributed to one resource or cost center ('' → None: none given)."""

    key: str | None
    metric: str
    quantity: Decimal
    amount: Decimal


@dataclass(frozen=True)
class TimelineBucket:
    bucket: datetime
    amount: Decimal
    cumulative_amount: Decimal


def realtime_subscription(*, tenant_id: str) -> Subscription:
    """Return the tenant's live subscription, or raise 404 `no_subscription`."""
    subscription = subscription_live_for_tenant(tenant_id=tenant_id)
    if subscription is None:
        raise NoSubscription(f"Tenant {tenant_id} has no live subscription.")
    return subscription


def _combine(aggregation: str, a: Decimal, b: Decimal) -> Decimal:
    """Return two segments' quantities of one metric combined (max for `max`, else summed)."""
    return max(a, b) if aggregation == "max" else a + b


def realtime_current(*, subscription: Subscription, now: datetime) -> CurrentCost:
    """Return the current period's cost up to `now`: base, usage, discount and total as the preview.

    `base` sums the base lines and `usage` the usage lines; a minimum-commitment or one-off line
    counts in `total` only.
    """
    bill = preview_bill(subscription=subscription, now=now)
    currency = bill.currency
    base, usage = zero(currency), zero(currency)
    per_metric: dict[str, list] = {}
    for line in bill.lines:
        if line.type == "base":
            base += line.amount
        elif line.type == "usage":
            usage += line.amount
            per_metric.setdefault(line.metric, []).append(line)
    by_metric = []
    for code, lines in sorted(per_metric.items()):
        quantity = lines[0].quantity
        for line in lines[1:]:
            aggregation = line.charge.aggregation if line.charge is not None else "sum"
            quantity = line.quantity if aggregation == "latest" else _combine(aggregation, quantity, line.quantity)
        by_metric.append(MetricCost(code, quantity, sum((line.amount for line in lines), zero(currency))))
    return CurrentCost(
        tenant_id=subscription.tenant_id,
        currency=currency,
        period_start=bill.period_start,
        period_end=bill.period_end,
        as_of=now,
        base=base,
        usage=usage,
        discount=bill.totals.discount,
        total=bill.totals.total,
        by_metric=by_metric,
        bill=bill,
    )


def _usage_lines(bill: PeriodBill, metric: str | None = None) -> dict[tuple, list]:
    """Return the bill's usage lines (of `metric`, if given) grouped by their usage window."""
    windows: dict[tuple, list] = {}
    for line in bill.lines:
        if line.type == "usage" and line.charge is not None and (metric is None or line.metric == metric):
            windows.setdefault((line.usage_start, line.usage_end), []).append(line)
    return windows


def _is_plain(line) -> bool:
    return line.filter_key is None and not needs_own_read(line.charge)


def realtime_by_dimension(*, subscription: Subscription, now: datetime, dimension: str) -> list[DimensionCost]:
    """Return each usage line's amount split across resources (or cost centers) by their quantity.

    The lines are the preview's (the same segments, overrides and filters); each line's amount is
    shared out with `money.allocate` in proportion to the per-key quantities of that line, so the
    parts add up to the usage total of `realtime_current` exactly. Plain lines read the per-key
    rollups (`unique_count` by each key's events); lines of filtered or level charges read
    `billing.selectors.usage.line_quantities_by`. A line with no usage has nothing to split.
    Sorted by key (None, i.e. no resource, first), then metric.
    """
    bill = preview_bill(subscription=subscription, now=now)
    currency = subscription.currency
    period_s = period_seconds(bill.period_start, bill.period_end)
    totals: dict[tuple[str, str], list] = {}
    for (start, end), lines in _usage_lines(bill).items():
        plain = [line for line in lines if _is_plain(line)]
        by_metric = dimension_quantities(
            tenant_id=subscription.tenant_id,
            metrics=[Metric(code=line.metric, aggregation=line.charge.aggregation) for line in plain],
            start=start,
            end=end,
            dimension=dimension,
        )
        for line in lines:
            aggregation = line.charge.aggregation
            if _is_plain(line):
                quantities = by_metric[line.metric]
            else:
                quantities = line_quantities_by(
                    tenant_id=subscription.tenant_id,
                    start=start,
                    end=end,
                    charge=line.charge,
                    key=line.filter_key,
                    period_s=period_s,
                    dimension=dimension,
                )
            if not quantities or not any(quantities.values()):
                if not line.amount:
                    continue
                quantities = {"": Decimal(1)}
            keys = sorted(quantities)
            parts = allocate(line.amount, [quantities[k] for k in keys], currency)
            for key, part in zip(keys, parts, strict=True):
                entry = totals.setdefault((key, line.metric), [Decimal(0), zero(currency)])
                entry[0] = _combine(aggregation, entry[0], quantities[key])
                entry[1] += part
    return [
        DimensionCost(key or None, metric, quantity, amount)
        for (key, metric), (quantity, amount) in sorted(totals.items())
    ]


def _amount_pricer(spec, currency: str):
    """Return quantity -> the line amount `price_charge(spec, quantity, currency)` would give.

    NOTE: price_charge also splits the rounded amount across tiers (exact fractions), which a
    timeline of hundreds of buckets never shows; the amount itself is the charge model's exact
    result rounded once, which is what this returns. The spec is validated once, as price_charge does.
    """
    errors = validate_charge(spec)
    if errors:
        raise ValueError("invalid charge: " + "; ".join(errors))
    model = CHARGE_MODELS[spec.model]
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    # money.quantize for a non-negative amount, without entering a new decimal context per call.
    return lambda quantity: model(spec, quantity).amount.quantize(exponent, ROUND_HALF_UP, EXACT_CONTEXT)


def _running(series: dict[int, Decimal], aggregation: str, edge_seconds: list[int]) -> list[Decimal]:
    """Return the quantity accumulated from the hourly `series` before each edge (max for `max`)."""
    hours = sorted(series.items())
    out, running, i = [], Decimal(0), 0
    for edge in edge_seconds:
        # NOTE: usage at or after `edge` is not yet "up to the bucket's end"; hours are hour-aligned
        # and so are edges, so an hour counts once it starts before the edge.
        while i < len(hours) and hours[i][0] < edge:
            value = hours[i][1]
            running = max(running, value) if aggregation == "max" else running + value
            i += 1
        out.append(running)
    return out


def _bucket_floor(at: datetime, granularity: str) -> datetime:
    floor = floor_hour(at)
    return floor.replace(hour=0) if granularity == "day" else floor


def _bucket_edges(lo: datetime, hi: datetime, granularity: str) -> list[datetime]:
    """Return the edges of the UTC hours or days covering [lo, hi) (400 beyond MAX_BUCKETS buckets)."""
    step = DAY if granularity == "day" else HOUR
    first = _bucket_floor(lo, granularity)
    count = int((hi - first) / step) + (1 if (hi - first) % step else 0)
    if count > MAX_BUCKETS:
        raise invalid("granularity", f"That range has {count} buckets; at most {MAX_BUCKETS}.", "too_many_buckets")
    return [first + i * step for i in range(count + 1)]


def _add_priced(cumulative: list, quantities: list[Decimal], price) -> None:
    """Add `price(quantities[k])` to `cumulative[k]`, pricing each distinct quantity once."""
    priced: dict[Decimal, Decimal] = {}
    for k, quantity in enumerate(quantities):
        if quantity not in priced:
            priced[quantity] = price(quantity)
        cumulative[k] += priced[quantity]


def realtime_timeline(
    *,
    subscription: Subscription,
    now: datetime,
    granularity: str,
    start: datetime | None = None,
    end: datetime | None = None,
    metric: str | None = None,
) -> list[TimelineBucket]:
    """Return the usage cost per bucket of the current period up to now (no base price).

    `cumulative_amount` at a bucket is every usage charge (of `metric`, if given) priced on the usage
    from the period start up to the bucket's end; `amount` is its increase over the bucket's start.
    Buckets are UTC hours or days within [start, end) ∩ [period start, min(period end, now)].
    """
    period_start, period_end = subscription.current_period_start, subscription.current_period_end
    lo = max(start or period_start, period_start)
    hi = min(end or period_end, period_end, now)
    if hi <= lo:
        return []
    edges = _bucket_edges(lo, hi, granularity)
    count = len(edges) - 1
    edge_seconds = [int(edge.timestamp()) for edge in edges]

    currency = subscription.currency
    bill = preview_bill(subscription=subscription, now=now)
    period_s = period_seconds(bill.period_start, bill.period_end)
    cumulative = [zero(currency) for _ in edges]
    for (start, end), lines in _usage_lines(bill, metric).items():
        if end <= start:
            continue
        plain = [line for line in lines if _is_plain(line)]
        series = hourly_quantities(
            tenant_id=subscription.tenant_id,
            metrics=[Metric(code=line.metric, aggregation=line.charge.aggregation) for line in plain],
            start=start,
            end=end,
        )
        for line in lines:
            charge = line.charge
            spec = charge.spec if line.filter_key is None else charge.filters[line.filter_key].spec
            price = _amount_pricer(spec, currency)
            if _is_plain(line):
                quantities = _running(series[line.metric], charge.aggregation, edge_seconds)
            else:
                quantities = line_series(
                    tenant_id=subscription.tenant_id,
                    start=start,
                    end=end,
                    charge=charge,
                    key=line.filter_key,
                    period_s=period_s,
                    edges=edges,
                )
            _add_priced(cumulative, quantities, price)
    return [
        TimelineBucket(bucket=edges[k], amount=cumulative[k + 1] - cumulative[k], cumulative_amount=cumulative[k + 1])
        for k in range(count)
    ]
