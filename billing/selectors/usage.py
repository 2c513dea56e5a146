"""Read aggregated usage exactly, from the hourly rollups plus raw events at partial-hour edges.

`sum`, `count` and `max` over [start, end) read `UsageHourly` for every whole hour inside the range
and raw events (through the (tenant_id, metric_id, timestamp) index) only for the partial hours at
its edges, so a period that starts at 10:37:12 is still exact to the microsecond. `unique_count`
counts distinct `unique_key`s (md5 of properties[field], written by the ingest) with a loose index
scan of the partial (tenant_id, metric_id, unique_key, timestamp) index: one index descent per
distinct value, whatever the number of events.

`usage_summary` answers GET /usage/summary for every group_by (metric, day, hour, resource,
cost_center) the same way: rollups for whole hours (UsageHourly for time buckets, UsageRollup for
resources and cost centers), raw events for the partial hours at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing.models import Metric, UsageEvent, UsageHourly, UsageRollup
from billing.pricing import seconds_between
from billing.selectors.charge_usage import (
    LEVEL_AGGREGATIONS,
    charge_quantities,
    level_events,
    level_groups,
    metric_charge,
)

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MetricUsage:
    """Aggregated usage of one metric over a range: `quantity` per its aggregation, `events` count."""

    metric: str
    aggregation: str
    quantity: Decimal
    events: int


def _floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(at: datetime) -> datetime:
    floor = _floor_hour(at)
    return floor if floor == at else floor + HOUR


def _edges(start: datetime, end: datetime) -> tuple[datetime, datetime, list[tuple[datetime, datetime]]]:
    """Return (whole_start, whole_end, raw_ranges): whole hours inside [start, end) and the partial edges."""
    whole_start, whole_end = _ceil_hour(start), _floor_hour(end)
    if whole_start >= whole_end:
        return whole_start, whole_start, [(start, end)]
    raw = []
    if start < whole_start:
        raw.append((start, whole_start))
    if whole_end < end:
        raw.append((whole_end, end))
    return whole_start, whole_end, raw


def usage_by_metric(
    *,
    tenant_id: str,
    start: datetime,
    end: datetime,
    metrics: list[Metric] | None = None,
    divisor_seconds: Decimal | None = None,
) -> dict[str, MetricUsage]:
    """Return {metric code: MetricUsage} of `tenant_id` over [start, end) for `metrics` (default: all).

    Metrics with no events in the range are present with quantity 0 and events 0. A `weighted_sum`
    metric's integral is divided by `divisor_seconds` (the billing period's length; default the
    range's own length), a `latest` metric is its last reading (`billing.selectors.charge_usage`).
    """
    if metrics is None:
        metrics = list(Metric.objects.all())
    result = {
        m.code: MetricUsage(metric=m.code, aggregation=m.aggregation, quantity=Decimal(0), events=0) for m in metrics
    }
    if end <= start or not metrics:
        return result
    levels = [m for m in metrics if m.aggregation in LEVEL_AGGREGATIONS]
    if levels:
        result.update(_level_usage(tenant_id, start, end, levels, divisor_seconds))
        metrics = [m for m in metrics if m.aggregation not in LEVEL_AGGREGATIONS]
        if not metrics:
            return result
    codes = [m.code for m in metrics]
    whole_start, whole_end, raw_ranges = _edges(start, end)
    sums: dict[str, Decimal] = {c: Decimal(0) for c in codes}
    maxes: dict[str, Decimal] = {c: Decimal(0) for c in codes}
    counts: dict[str, int] = {c: 0 for c in codes}

    def fold(rows) -> None:
        # Rollup hours and raw edge events combine the same way: sums and counts add, maxima max.
        for code, s, mx, n in rows:
            sums[code] += s or 0
            maxes[code] = max(maxes[code], mx or 0)
            counts[code] += int(n or 0)

    with connection.cursor() as cur:
        if whole_start < whole_end:
            cur.execute(
                f"SELECT metric_id, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
                f"FROM {UsageHourly._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
                f"AND hour >= %s AND hour < %s GROUP BY metric_id",
                [tenant_id, codes, whole_start, whole_end],
            )
            fold(cur.fetchall())
        for lo, hi in raw_ranges:
            cur.execute(
                f"SELECT metric_id, SUM(quantity), MAX(quantity), COUNT(*) FROM {UsageEvent._meta.db_table} "
                f"WHERE tenant_id = %s AND metric_id = ANY(%s) AND timestamp >= %s AND timestamp < %s "
                f"GROUP BY metric_id",
                [tenant_id, codes, lo, hi],
            )
            fold(cur.fetchall())
        unique = [m for m in metrics if m.aggregation == "unique_count"]
        uniques: dict[str, int] = {}
        for m in unique:
            uniques[m.code] = _distinct_count(cur, tenant_id, m.code, start, end)
    for m in metrics:
        quantity = {
            "sum": sums[m.code],
            "count": Decimal(counts[m.code]),
            "max": maxes[m.code],
            "unique_count": Decimal(uniques.get(m.code, 0)),
        }[m.aggregation]
        result[m.code] = MetricUsage(metric=m.code, aggregation=m.aggregation, quantity=quantity, events=counts[m.code])
    return result


def _level_usage(tenant_id: str, start: datetime, end: datetime, metrics: list, divisor) -> dict[str, MetricUsage]:
    """Return the MetricUsage of `latest` / `weighted_sum` metrics over [start, end)."""
    divisor = divisor if divisor is not None else seconds_between(start, end)
    # NOTE: a level is known only up to now; integrating past it would be a projection (the
    # estimate's business), so a range reaching into the future integrates up to now.
    until = max(start, min(end, timezone.now()))
    quantities = charge_quantities(
        tenant_id=tenant_id, start=start, end=until, charges=[metric_charge(m) for m in metrics], period_s=divisor
    )
    return {
        m.code: MetricUsage(
            metric=m.code,
            aggregation=m.aggregation,
            quantity=quantities[m.code][None],
            events=level_events(tenant_id=tenant_id, metric=m.code, start=start, end=end),
        )
        for m in metrics
    }


def _distinct_count(cur, tenant_id: str, code: str, start: datetime, end: datetime) -> int:
    """Return the number of distinct unique_keys of one metric in [start, end) (loose index scan)."""
    table = UsageEvent._meta.db_table
    cur.execute(
        f"""
        WITH RECURSIVE d(v) AS (
            (SELECT unique_key FROM {table}
              WHERE tenant_id = %(t)s AND metric_id = %(m)s AND unique_key IS NOT NULL
                AND "timestamp" >= %(s)s AND "timestamp" < %(e)s
              ORDER BY unique_key LIMIT 1)
            UNION ALL
            SELECT (SELECT x.unique_key FROM {table} x
                     WHERE x.tenant_id = %(t)s AND x.metric_id = %(m)s AND x.unique_key IS NOT NULL
                       AND x.unique_key > d.v AND x."timestamp" >= %(s)s AND x."timestamp" < %(e)s
                     ORDER BY x.unique_key LIMIT 1)
            FROM d WHERE d.v IS NOT NULL
        )
        SELECT count(v) FROM d
        """,
        {"t": tenant_id, "m": code, "s": start, "e": end},
    )
    return int(cur.fetchone()[0] or 0)


GROUP_BY = ("metric", "day", "hour", "resource", "cost_center")
# group_by -> (key over rollup rows, key over raw events, rollup table, output field)
_GROUPINGS = {
    "day": ("date_trunc('day', hour, 'UTC')", "date_trunc('day', \"timestamp\", 'UTC')", UsageHourly, "bucket"),
    "hour": ("hour", "date_trunc('hour', \"timestamp\", 'UTC')", UsageHourly, "bucket"),
    "resource": ("resource_id", "resource_id", UsageRollup, "resource_id"),
    "cost_center": ("cost_center", "cost_center", UsageRollup, "cost_center"),
}


@dataclass(frozen=True)
class GroupUsage:
    """Aggregated usage of one metric within one group (a time bucket, a resource or a cost center)."""

    metric: str
    aggregation: str
    key: object
    quantity: Decimal
    events: int


def usage_grouped(
    *, tenant_id: str, start: datetime, end: datetime, group_by: str, metrics: list[Metric]
) -> list[GroupUsage]:
    """Return the usage of `metrics` over [start, end) per (metric, group), groups with events only.

    `key` is the bucket start (datetime) for day/hour, else the resource id or cost-center code
    (None for events without one). Sorted by metric, then key (None first).
    """
    key_rollup, key_raw, table, _ = _GROUPINGS[group_by]
    if end <= start or not metrics:
        return []
    if any(m.aggregation in LEVEL_AGGREGATIONS for m in metrics):
        return _with_levels_grouped(tenant_id=tenant_id, start=start, end=end, group_by=group_by, metrics=metrics)
    codes = [m.code for m in metrics]
    whole_start, whole_end, raw_ranges = _edges(start, end)
    acc: dict[tuple[str, object], list] = {}

    def fold(rows):
        for code, key, s, mx, n in rows:
            slot = acc.setdefault((code, key), [Decimal(0), Decimal(0), 0])
            slot[0] += s or 0
            slot[1] = max(slot[1], mx or 0)
            slot[2] += int(n or 0)

    with connection.cursor() as cur:
        if whole_start < whole_end:
            cur.execute(
                f"SELECT metric_id, {key_rollup}, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
                f"FROM {table._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
                f"AND hour >= %s AND hour < %s GROUP BY 1, 2",
                [tenant_id, codes, whole_start, whole_end],
            )
            fold(cur.fetchall())
        for lo, hi in raw_ranges:
            cur.execute(
                f"SELECT metric_id, {key_raw}, SUM(quantity), MAX(quantity), COUNT(*) "
                f"FROM {UsageEvent._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
                f'AND "timestamp" >= %s AND "timestamp" < %s GROUP BY 1, 2',
                [tenant_id, codes, lo, hi],
            )
            fold(cur.fetchall())
        uniques: dict[tuple[str, object], int] = {}
        for m in metrics:
            if m.aggregation != "unique_count":
                continue
            # NOTE: distinct values do not add up across groups, so each group counts raw events;
            # the partial unique_key index serves the (tenant, metric, timestamp range) filter.
            cur.execute(
                f"SELECT k, COUNT(*) FROM (SELECT DISTINCT {key_raw} AS k, unique_key "
                f"FROM {UsageEvent._meta.db_table} WHERE tenant_id = %s AND metric_id = %s "
                f'AND unique_key IS NOT NULL AND "timestamp" >= %s AND "timestamp" < %s) d GROUP BY 1',
                [tenant_id, m.code, start, end],
            )
            for key, n in cur.fetchall():
                uniques[(m.code, key)] = int(n)
    by_code = {m.code: m for m in metrics}
    out = []
    for (code, key), (s, mx, n) in acc.items():
        agg = by_code[code].aggregation
        quantity = {
            "sum": s,
            "count": Decimal(n),
            "max": mx,
            "unique_count": Decimal(uniques.get((code, key), 0)),
        }[agg]
        if group_by in ("resource", "cost_center") and key == "":
            key = None
        out.append(GroupUsage(metric=code, aggregation=agg, key=key, quantity=quantity, events=n))
    out.sort(key=lambda g: (g.metric, g.key is not None, g.key if g.key is not None else ""))
    return out


def _with_levels_grouped(
    *, tenant_id: str, start: datetime, end: datetime, group_by: str, metrics: list[Metric]
) -> list[GroupUsage]:
    """Return `usage_grouped` of the other metrics plus the `latest`/`weighted_sum` ones' groups."""
    levels = [m for m in metrics if m.aggregation in LEVEL_AGGREGATIONS]
    others = [m for m in metrics if m.aggregation not in LEVEL_AGGREGATIONS]
    out = usage_grouped(tenant_id=tenant_id, start=start, end=end, group_by=group_by, metrics=others)
    divisor = seconds_between(start, end)
    until = max(start, min(end, timezone.now()))  # levels are known up to now (see _level_usage)
    for m in levels:
        groups = level_groups(tenant_id=tenant_id, metric=m, start=start, end=until, group_by=group_by, divisor=divisor)
        for key, (quantity, n) in groups.items():
            key = None if group_by in ("resource", "cost_center") and key == "" else key
            out.append(GroupUsage(metric=m.code, aggregation=m.aggregation, key=key, quantity=quantity, events=n))
    out.sort(key=lambda g: (g.metric, g.key is not None, g.key if g.key is not None else ""))
    return out


def usage_default_range(*, tenant_id: str, now: datetime) -> tuple[datetime, datetime]:
    """Return the tenant's current billing period (live subscription) or the current UTC calendar month."""
    from billing.models import Subscription

    period = (
        Subscription.objects.filter(tenant_id=tenant_id)
        .exclude(status="canceled")
        .values_list("current_period_start", "current_period_end")
        .first()
    )
    if period:
        return period
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end
