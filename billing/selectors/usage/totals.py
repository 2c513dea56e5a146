"""Usage of each metric over a window [start, end), exact to the microsecond.

`sum`, `count` and `max` read `UsageHourly` for every whole hour inside the window and raw events
(through the (tenant_id, metric_id, timestamp) index) only for the partial hours at its edges, so a
period that starts at 10:37:12 is still exact. `unique_count` counts distinct `unique_key`s (md5 of
properties[field], written by the ingest) from the per-day distinct table (`distinct.py`): rows per
distinct value and day, whatever the number of events. `latest` and `weighted_sum` metrics are read
by `charges.py` (they need the events' order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from billing.models import Metric, UsageEvent, UsageHourly
from billing.pricing import seconds_between
from billing.selectors.usage.charges import LEVEL_AGGREGATIONS, charge_quantities, level_events, metric_charge
from billing.selectors.usage.distinct import distinct_total
from billing.selectors.usage.windows import HOUR, Folded, aggregate, floor_hour, fold_rows, split_edges


@dataclass(frozen=True)
class MetricUsage:
    """Aggregated usage of one metric over a range: `quantity` per its aggregation, `events` count."""

    metric: str
    aggregation: str
    quantity: Decimal
    events: int


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
    range's own length), a `latest` metric is its last reading (`charges.py`).
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
    whole_start, whole_end, raw_ranges = split_edges(start, end)
    acc: Folded = {}
    with connection.cursor() as cur:
        if whole_start < whole_end:
            cur.execute(
                f"SELECT metric_id, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) "
                f"FROM {UsageHourly._meta.db_table} WHERE tenant_id = %s AND metric_id = ANY(%s) "
                f"AND hour >= %s AND hour < %s GROUP BY metric_id",
                [tenant_id, codes, whole_start, whole_end],
            )
            fold_rows(acc, ((code, None, s, mx, n) for code, s, mx, n in cur.fetchall()))
        for lo, hi in raw_ranges:
            if lo == floor_hour(lo):  # the trailing partial hour (a window ending now, say)
                cur.execute(_TRAILING_HOUR_SQL, {"t": tenant_id, "codes": codes, "lo": lo, "hi": hi, "h1": lo + HOUR})
            else:
                cur.execute(
                    f"SELECT metric_id, SUM(quantity), MAX(quantity), COUNT(*) FROM {UsageEvent._meta.db_table} "
                    f"WHERE tenant_id = %s AND metric_id = ANY(%s) AND timestamp >= %s AND timestamp < %s "
                    f"GROUP BY metric_id",
                    [tenant_id, codes, lo, hi],
                )
            fold_rows(acc, ((code, None, s, mx, n) for code, s, mx, n in cur.fetchall()))
        uniques = {
            m.code: distinct_total(cur, tenant_id, m.code, start, end)
            for m in metrics
            if m.aggregation == "unique_count"
        }
    for m in metrics:
        folded = acc.get((m.code, None), [Decimal(0), Decimal(0), 0])
        quantity = Decimal(uniques[m.code]) if m.code in uniques else aggregate(m.aggregation, folded)
        result[m.code] = MetricUsage(metric=m.code, aggregation=m.aggregation, quantity=quantity, events=folded[2])
    return result


# A trailing partial hour [lo, hi) (lo on the hour) is the whole hour's rollup row for every metric
# with no event stamped in [hi, lo + 1h), which one index probe per metric tells; only the others
# are read from raw events. One statement, so the probe, the rollup and the raw rows are one snapshot
# (the ingest writes an event and its rollup in one transaction): exact, and a window ending "now"
# no longer reads the current hour's events.
_TRAILING_HOUR_SQL = f"""
    WITH late AS MATERIALIZED (
        SELECT c.code FROM unnest(%(codes)s::text[]) AS c(code)
        WHERE EXISTS (SELECT 1 FROM {UsageEvent._meta.db_table} e WHERE e.tenant_id = %(t)s
                      AND e.metric_id = c.code AND e."timestamp" >= %(hi)s AND e."timestamp" < %(h1)s)
    )
    SELECT metric_id, SUM(quantity_sum), MAX(quantity_max), SUM(event_count) FROM {UsageHourly._meta.db_table}
    WHERE tenant_id = %(t)s AND metric_id = ANY(%(codes)s) AND hour = %(lo)s
      AND metric_id NOT IN (SELECT code FROM late)
    GROUP BY metric_id
    UNION ALL
    SELECT metric_id, SUM(quantity), MAX(quantity), COUNT(*) FROM {UsageEvent._meta.db_table}
    WHERE tenant_id = %(t)s AND metric_id IN (SELECT code FROM late) AND "timestamp" >= %(lo)s AND "timestamp" < %(hi)s
    GROUP BY metric_id
"""


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
