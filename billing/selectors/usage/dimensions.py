"""Usage per resource or cost center over a window, and the partial-hour read real-time cost relies on.

Every quantity read here is exact over its half-open window: whole hours come from the rollups,
the partial hours at a window's edges from raw events through the (tenant, metric, timestamp) index,
except the current hour, read from its rollup row whenever no event is stamped after "now" in it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db import connection

from billing.models import Metric, UsageEvent, UsageHourly, UsageRollup
from billing.selectors.usage.windows import HOUR, Folded, aggregate, floor_hour, fold_rows, split_edges

DIMENSIONS = ("resource_id", "cost_center")
CLOSED_HOURS_CACHE_SECONDS = 3600


def partial_hour_rows(
    cur, *, rollup, rollup_key: str, raw_key: str, tenant_id: str, codes: list[str], lo: datetime, hi: datetime
) -> list[tuple]:
    """Return (metric, key, sum, max, count) rows of the events in [lo, hi), part of one hour.

    NOTE: when [lo, hi) starts on the hour and no event of these metrics is stamped in [hi, end of
    that hour) (the usual case for the current hour, whose `hi` is now), the hour's rollup rows
    hold exactly those events and are read instead of thousands of raw ones. The check and the
    read are one statement, so they see one snapshot; otherwise the raw events are aggregated.
    """
    events = UsageEvent._meta.db_table
    if lo == floor_hour(lo):
        cur.execute(
            f"""
            WITH later AS (
                SELECT EXISTS (SELECT 1 FROM {events} WHERE tenant_id = %(t)s AND metric_id = ANY(%(m)s)
                                 AND timestamp >= %(hi)s AND timestamp < %(hour_end)s) AS found
            )
            SELECT later.found, r.metric_id, {rollup_key}, SUM(r.quantity_sum), MAX(r.quantity_max),
                   SUM(r.event_count)
            FROM later LEFT JOIN {rollup._meta.db_table} r
              ON NOT later.found AND r.tenant_id = %(t)s AND r.metric_id = ANY(%(m)s) AND r.hour = %(lo)s
            GROUP BY 1, 2, 3
            """,
            {"t": tenant_id, "m": codes, "lo": lo, "hi": hi, "hour_end": lo + HOUR},
        )
        rows = cur.fetchall()
        if not rows[0][0]:
            return [row[1:] for row in rows if row[1] is not None]
    cur.execute(
        f"SELECT metric_id, {raw_key}, SUM(quantity), MAX(quantity), COUNT(*) FROM {events} "
        f"WHERE tenant_id = %s AND metric_id = ANY(%s) AND timestamp >= %s AND timestamp < %s GROUP BY 1, 2",
        [tenant_id, codes, lo, hi],
    )
    return cur.fetchall()


def _whole_hours_by_dimension(
    cur, *, tenant_id: str, codes: list[str], start: datetime, end: datetime, dimension: str
) -> list[tuple]:
    """Return (metric, key, sum, max, count) rows of `UsageRollup` over the whole hours [start, end).

    NOTE: grouping a month of per-resource rollups is the costliest read of by-resource, and past
    hours rarely change, so the result is cached under a version of the same hours read from
    `UsageHourly` (event count and quantity sums, a few index rows per hour). Events are
    append-only, so any event landing in those hours, however late, changes the version and the
    next read recomputes; the version is read first, so a cached result is never older than it.
    """
    cur.execute(
        f"SELECT COALESCE(SUM(event_count), 0), COALESCE(SUM(quantity_sum), 0), COALESCE(MAX(quantity_max), 0) "
        f"FROM {UsageHourly._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) AND hour >= %s AND hour < %s",
        [tenant_id, codes, start, end],
    )
    version = cur.fetchone()
    key = (
        "realtime:rollup:"
        + hashlib.sha256(
            repr((tenant_id, dimension, sorted(codes), start.isoformat(), end.isoformat(), *map(str, version))).encode()
        ).hexdigest()
    )
    rows = cache.get(key)
    if rows is None:
        cur.execute(
            f"SELECT metric_id, {dimension}, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
            f"FROM {UsageRollup._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
            f"AND hour >= %s AND hour < %s GROUP BY 1, 2",
            [tenant_id, codes, start, end],
        )
        rows = cur.fetchall()
        cache.set(key, rows, timeout=CLOSED_HOURS_CACHE_SECONDS)
    return rows


def dimension_quantities(
    *, tenant_id: str, metrics: list[Metric], start: datetime, end: datetime, dimension: str
) -> dict[str, dict[str, Decimal]]:
    """Return {metric: {resource id or cost-center code ('' for none): quantity}} over [start, end).

    Read from `UsageRollup` (whole hours) plus raw events (partial edge hours), one query each.
    The quantity is the metric's aggregation per key (sum, count, max). For `unique_count` it is
    the key's number of events: distinct values do not add up across keys and the rollups hold
    no distinct sets, so a unique_count charge is shared out by each key's share of the events.
    Keys with no usage are absent.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    result: dict[str, dict[str, Decimal]] = {m.code: {} for m in metrics}
    if end <= start or not metrics:
        return result
    aggregation = {m.code: m.aggregation for m in metrics}
    codes = list(aggregation)
    whole_start, whole_end, raw_ranges = split_edges(start, end)
    acc: Folded = {}
    with connection.cursor() as cur:
        if whole_start < whole_end:
            rows = _whole_hours_by_dimension(
                cur, tenant_id=tenant_id, codes=codes, start=whole_start, end=whole_end, dimension=dimension
            )
            fold_rows(acc, rows)
        for lo, hi in raw_ranges:
            rows = partial_hour_rows(
                cur,
                rollup=UsageRollup,
                rollup_key=f"r.{dimension}",
                raw_key=dimension,
                tenant_id=tenant_id,
                codes=codes,
                lo=lo,
                hi=hi,
            )
            fold_rows(acc, rows)
    for (code, key), folded in acc.items():
        result[code][key] = aggregate(aggregation[code], folded)
    return result
