"""Read aggregated usage exactly, from the hourly rollups plus raw events at partial-hour edges.

`sum`, `count` and `max` over [start, end) read `UsageHourly` for every whole hour inside the range
and raw events (through the (tenant_id, metric_id, timestamp) index) only for the partial hours at
its edges, so a period that starts at 10:37:12 is still exact to the microsecond. `unique_count`
reads raw events through the same index.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection

from billing.models import Metric, UsageEvent, UsageHourly

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
    *, tenant_id: str, start: datetime, end: datetime, metrics: list[Metric] | None = None
) -> dict[str, MetricUsage]:
    """Return {metric code: MetricUsage} of `tenant_id` over [start, end) for `metrics` (default: all).

    Metrics with no events in the range are present with quantity 0 and events 0.
    """
    if metrics is None:
        metrics = list(Metric.objects.all())
    result = {
        m.code: MetricUsage(metric=m.code, aggregation=m.aggregation, quantity=Decimal(0), events=0) for m in metrics
    }
    if end <= start or not metrics:
        return result
    codes = [m.code for m in metrics]
    whole_start, whole_end, raw_ranges = _edges(start, end)
    sums: dict[str, Decimal] = {c: Decimal(0) for c in codes}
    maxes: dict[str, Decimal] = {c: Decimal(0) for c in codes}
    counts: dict[str, int] = {c: 0 for c in codes}
    with connection.cursor() as cur:
        if whole_start < whole_end:
            cur.execute(
                f"SELECT metric_id, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
                f"FROM {UsageHourly._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
                f"AND hour >= %s AND hour < %s GROUP BY metric_id",
                [tenant_id, codes, whole_start, whole_end],
            )
            for code, s, mx, n in cur.fetchall():
                sums[code] += s or 0
                maxes[code] = max(maxes[code], mx or 0)
                counts[code] += int(n or 0)
        for lo, hi in raw_ranges:
            cur.execute(
                f"SELECT metric_id, SUM(quantity), MAX(quantity), COUNT(*) FROM {UsageEvent._meta.db_table} "
                f"WHERE tenant_id = %s AND metric_id = ANY(%s) AND timestamp >= %s AND timestamp < %s "
                f"GROUP BY metric_id",
                [tenant_id, codes, lo, hi],
            )
            for code, s, mx, n in cur.fetchall():
                sums[code] += s or 0
                maxes[code] = max(maxes[code], mx or 0)
                counts[code] += int(n or 0)
        unique = [m for m in metrics if m.aggregation == "unique_count"]
        uniques: dict[str, int] = {}
        for m in unique:
            cur.execute(
                f"SELECT COUNT(DISTINCT properties ->> %s) FROM {UsageEvent._meta.db_table} "
                f"WHERE tenant_id = %s AND metric_id = %s AND timestamp >= %s AND timestamp < %s",
                [m.field, tenant_id, m.code, start, end],
            )
            uniques[m.code] = int(cur.fetchone()[0] or 0)
    for m in metrics:
        quantity = {
            "sum": sums[m.code],
            "count": Decimal(counts[m.code]),
            "max": maxes[m.code],
            "unique_count": Decimal(uniques.get(m.code, 0)),
        }[m.aggregation]
        result[m.code] = MetricUsage(metric=m.code, aggregation=m.aggregation, quantity=quantity, events=counts[m.code])
    return result
