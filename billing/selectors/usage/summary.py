"""GET /usage/summary: usage per metric and group (day, hour, resource or cost center) over a window.

Every group_by is read the same way: rollups for whole hours (`UsageHourly` for time buckets,
`UsageRollup` for resources and cost centers), raw events for the partial hours at the edges. A
`unique_count` metric per day reads the per-day distinct table (`distinct.py`), per hour, resource
or cost center its raw events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing.models import Metric, Subscription, UsageEvent, UsageHourly, UsageRollup
from billing.pricing import seconds_between
from billing.selectors.usage.charges import LEVEL_AGGREGATIONS
from billing.selectors.usage.distinct import distinct_per_day
from billing.selectors.usage.levels import level_groups
from billing.selectors.usage.windows import Folded, aggregate, fold_rows, split_edges

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


def _grouped_rows(cur, *, tenant_id: str, codes: list[str], start: datetime, end: datetime, group_by: str) -> Folded:
    """Return the folded (sum, max, count) per (metric, group) over [start, end)."""
    key_rollup, key_raw, table, _ = _GROUPINGS[group_by]
    whole_start, whole_end, raw_ranges = split_edges(start, end)
    acc: Folded = {}
    if whole_start < whole_end:
        cur.execute(
            f"SELECT metric_id, {key_rollup}, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
            f"FROM {table._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
            f"AND hour >= %s AND hour < %s GROUP BY 1, 2",
            [tenant_id, codes, whole_start, whole_end],
        )
        fold_rows(acc, cur.fetchall())
    for lo, hi in raw_ranges:
        cur.execute(
            f"SELECT metric_id, {key_raw}, SUM(quantity), MAX(quantity), COUNT(*) "
            f"FROM {UsageEvent._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
            f'AND "timestamp" >= %s AND "timestamp" < %s GROUP BY 1, 2',
            [tenant_id, codes, lo, hi],
        )
        fold_rows(acc, cur.fetchall())
    return acc


def _grouped_distinct(cur, *, tenant_id: str, code: str, start: datetime, end: datetime, group_by: str) -> dict:
    """Return {group: distinct values} of one unique_count metric over [start, end)."""
    if group_by == "day":
        return distinct_per_day(cur, tenant_id, code, start, end)
    key_raw = _GROUPINGS[group_by][1]
    # NOTE: distinct values do not add up across groups, so each hour, resource or cost center counts
    # raw events; the partial unique_key index serves the (tenant, metric, timestamp range) filter.
    cur.execute(
        f"SELECT k, COUNT(*) FROM (SELECT DISTINCT {key_raw} AS k, unique_key "
        f"FROM {UsageEvent._meta.db_table} WHERE tenant_id = %s AND metric_id = %s "
        f'AND unique_key IS NOT NULL AND "timestamp" >= %s AND "timestamp" < %s) d GROUP BY 1',
        [tenant_id, code, start, end],
    )
    return {key: int(n) for key, n in cur.fetchall()}


def usage_grouped(
    *, tenant_id: str, start: datetime, end: datetime, group_by: str, metrics: list[Metric]
) -> list[GroupUsage]:
    """Return the usage of `metrics` over [start, end) per (metric, group), groups with events only.

    `key` is the bucket start (datetime) for day/hour, else the resource id or cost-center code
    (None for events without one). Sorted by metric, then key (None first).
    """
    if end <= start or not metrics:
        return []
    if any(m.aggregation in LEVEL_AGGREGATIONS for m in metrics):
        return _with_levels_grouped(tenant_id=tenant_id, start=start, end=end, group_by=group_by, metrics=metrics)
    window = {"tenant_id": tenant_id, "start": start, "end": end, "group_by": group_by}
    with connection.cursor() as cur:
        acc = _grouped_rows(cur, codes=[m.code for m in metrics], **window)
        uniques = {
            m.code: _grouped_distinct(cur, code=m.code, **window) for m in metrics if m.aggregation == "unique_count"
        }
    by_code = {m.code: m for m in metrics}
    out = []
    for (code, key), folded in acc.items():
        agg = by_code[code].aggregation
        quantity = Decimal(uniques[code].get(key, 0)) if code in uniques else aggregate(agg, folded)
        if group_by in ("resource", "cost_center") and key == "":
            key = None
        out.append(GroupUsage(metric=code, aggregation=agg, key=key, quantity=quantity, events=folded[2]))
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
    until = max(start, min(end, timezone.now()))  # levels are known up to now (see totals._level_usage)
    for m in levels:
        groups = level_groups(tenant_id=tenant_id, metric=m, start=start, end=until, group_by=group_by, divisor=divisor)
        for key, (quantity, n) in groups.items():
            key = None if group_by in ("resource", "cost_center") and key == "" else key
            out.append(GroupUsage(metric=m.code, aggregation=m.aggregation, key=key, quantity=quantity, events=n))
    out.sort(key=lambda g: (g.metric, g.key is not None, g.key if g.key is not None else ""))
    return out


def usage_default_range(*, tenant_id: str, now: datetime) -> tuple[datetime, datetime]:
    """Return the tenant's current billing period (live subscription) or the current UTC calendar month."""
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
