"""Usage added per UTC day over a window, for day-by-day pricing (the finance dashboard).

`daily_quantities` answers "how much did each metric add on each day of [start, end)" in a few
statements whatever the number of days or events: whole hours from `UsageHourly` folded into days
by the database, the partial hours at the window's edges from raw events (or their hour's rollup,
see `partial_hour_rows`), and for `unique_count` the values first seen on each day from the per-day
distinct table. Running totals over these give the usage up to any UTC midnight inside the window.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet, Sum

from billing.models import Metric, UsageHourly
from billing.selectors.usage.dimensions import partial_hour_rows
from billing.selectors.usage.distinct import distinct_first_days
from billing.selectors.usage.windows import split_edges

_DAY = "({} AT TIME ZONE 'UTC')::date"


def daily_quantities(
    *, tenant_id: str, metrics: list[Metric], start: datetime, end: datetime
) -> dict[str, dict[date, Decimal]]:
    """Return {metric: {UTC day: quantity added that day}} over [start, end), exact.

    Sums and counts are what the day added, a `max` metric the day's maximum, a `unique_count`
    metric the number of values first seen that day (so running sums give the distinct count).
    """
    series: dict[str, dict[date, Decimal]] = {m.code: defaultdict(Decimal) for m in metrics}
    by_agg = {m.code: m.aggregation for m in metrics}
    plain = [m.code for m in metrics if m.aggregation != "unique_count"]
    whole_start, whole_end, raw_ranges = split_edges(start, end)
    rows: list[tuple] = []
    with connection.cursor() as cur:
        if plain and whole_start < whole_end:
            cur.execute(
                f"SELECT metric_id, {_DAY.format('hour')}, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
                f"FROM {UsageHourly._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
                f"AND hour >= %s AND hour < %s GROUP BY 1, 2",
                [tenant_id, plain, whole_start, whole_end],
            )
            rows += cur.fetchall()
        for lo, hi in raw_ranges if plain else ():
            rows += partial_hour_rows(
                cur,
                rollup=UsageHourly,
                rollup_key=_DAY.format("r.hour"),
                raw_key=_DAY.format("timestamp"),
                tenant_id=tenant_id,
                codes=plain,
                lo=lo,
                hi=hi,
            )
        for m in metrics:
            if m.aggregation == "unique_count":
                for day, n in distinct_first_days(cur, tenant_id, m.code, start, end).items():
                    series[m.code][day] += Decimal(n)
    for code, day, s, mx, n in rows:
        agg, bucket = by_agg[code], series[code]
        if agg == "max":
            bucket[day] = max(bucket[day], Decimal(mx or 0))
        else:
            bucket[day] += Decimal(s or 0) if agg == "sum" else Decimal(n or 0)
    return series


def usage_busiest_tenants(*, tenant_ids: QuerySet, start: datetime, end: datetime) -> QuerySet:
    """Return [{tenant_id, n}] of `tenant_ids` with events in [start, end), by events recorded (most first)."""
    return (
        UsageHourly.objects.filter(hour__gte=start, hour__lt=end, tenant_id__in=tenant_ids)
        .values("tenant_id")
        .annotate(n=Sum("event_count"))
        .order_by("-n", "tenant_id")
    )
