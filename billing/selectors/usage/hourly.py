"""Usage added per hour over a window, for a timeline that prices the running total at every bucket."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db import connection

from billing.models import Metric, UsageEvent, UsageHourly
from billing.selectors.usage.dimensions import partial_hour_rows
from billing.selectors.usage.windows import split_edges

_EPOCH = "EXTRACT(EPOCH FROM {})::bigint"


def _first_seen_per_hour(cur, *, tenant_id: str, code: str, start: datetime, end: datetime) -> list[tuple]:
    """Return (hour in Unix seconds, values first seen in it) of one unique_count metric over [start, end).

    NOTE: a loose index scan of the partial (tenant, metric, unique_key, timestamp) index: one
    descent per distinct value to find the next value, one more for its first timestamp in the
    window, instead of reading every raw event of the period.
    """
    events = UsageEvent._meta.db_table
    cur.execute(
        f"""
        WITH RECURSIVE d(v) AS (
            (SELECT unique_key FROM {events}
              WHERE tenant_id = %(t)s AND metric_id = %(m)s AND unique_key IS NOT NULL
                AND timestamp >= %(s)s AND timestamp < %(e)s
              ORDER BY unique_key LIMIT 1)
            UNION ALL
            SELECT (SELECT x.unique_key FROM {events} x
                     WHERE x.tenant_id = %(t)s AND x.metric_id = %(m)s AND x.unique_key IS NOT NULL
                       AND x.unique_key > d.v AND x.timestamp >= %(s)s AND x.timestamp < %(e)s
                     ORDER BY x.unique_key LIMIT 1)
            FROM d WHERE d.v IS NOT NULL
        )
        SELECT {_EPOCH.format("date_trunc('hour', f.first_seen)")}, COUNT(*)
        FROM d, LATERAL (
            SELECT MIN(y.timestamp) AS first_seen FROM {events} y
             WHERE y.tenant_id = %(t)s AND y.metric_id = %(m)s AND y.unique_key = d.v
               AND y.timestamp >= %(s)s AND y.timestamp < %(e)s
        ) f
        WHERE d.v IS NOT NULL GROUP BY 1
        """,
        {"t": tenant_id, "m": code, "s": start, "e": end},
    )
    return cur.fetchall()


def hourly_quantities(
    *, tenant_id: str, metrics: list[Metric], start: datetime, end: datetime
) -> dict[str, dict[int, Decimal]]:
    """Return {metric: {hour (Unix seconds): quantity added in that hour}} over [start, end), exact.

    For `max` the value is the hour's maximum; for `unique_count` the number of values first seen
    in that hour (so running sums give the distinct count so far). Hours come back as integers and
    the whole hours with only the column the metric's aggregation needs: a month is ~750 rows per
    metric, and parsing them is most of the cost of a timeline.
    """
    series: dict[str, dict[int, Decimal]] = {m.code: defaultdict(Decimal) for m in metrics}
    by_agg = {m.code: m.aggregation for m in metrics}
    plain = [m.code for m in metrics if m.aggregation != "unique_count"]

    def add(code, hour, value):
        bucket = series[code]
        bucket[hour] = max(bucket[hour], value) if by_agg[code] == "max" else bucket[hour] + value

    whole_start, whole_end, raw_ranges = split_edges(start, end)
    with connection.cursor() as cur:
        if plain and whole_start < whole_end:
            cur.execute(
                f"SELECT metric_id, {_EPOCH.format('hour')}, CASE WHEN metric_id = ANY(%(sums)s) THEN quantity_sum "
                f"WHEN metric_id = ANY(%(maxes)s) THEN quantity_max ELSE event_count END "
                f"FROM {UsageHourly._meta.db_table} WHERE tenant_id = %(t)s AND metric_id = ANY(%(m)s) "
                f"AND hour >= %(s)s AND hour < %(e)s",
                {
                    "t": tenant_id,
                    "m": plain,
                    "s": whole_start,
                    "e": whole_end,
                    "sums": [c for c in plain if by_agg[c] == "sum"],
                    "maxes": [c for c in plain if by_agg[c] == "max"],
                },
            )
            for code, hour, value in cur.fetchall():
                add(code, hour, value)
        for lo, hi in raw_ranges if plain else ():
            rows = partial_hour_rows(
                cur,
                rollup=UsageHourly,
                rollup_key=_EPOCH.format("r.hour"),
                raw_key=_EPOCH.format("date_trunc('hour', timestamp)"),
                tenant_id=tenant_id,
                codes=plain,
                lo=lo,
                hi=hi,
            )
            for code, hour, s, mx, n in rows:
                agg = by_agg[code]
                add(
                    code,
                    hour,
                    Decimal(s or 0) if agg == "sum" else Decimal(n or 0) if agg == "count" else Decimal(mx or 0),
                )
        for m in metrics:
            if m.aggregation == "unique_count":
                for hour, n in _first_seen_per_hour(cur, tenant_id=tenant_id, code=m.code, start=start, end=end):
                    series[m.code][hour] += Decimal(n)
    return series
