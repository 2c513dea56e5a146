"""Keep `UsageLevel` (the hourly rollup of `latest` / `weighted_sum` metrics) in step with the events.

A (resource, hour) row set is recomputed from all of that hour's raw events of the resource whenever
one of them arrives, so an out-of-order reading is folded exactly: the ingest statement gets one more
data-modifying CTE (`level_rollup_cte`) that does this for the rows of level metrics only, and a batch
without them does not carry it at all. Its inputs are the hour's events in the statement's snapshot
plus the ones it inserts (a CTE does not see the others' effects); a transaction-scoped advisory lock
per (tenant, level metric), taken before that statement (`level_rollup_lock`), makes sure the snapshot
holds every committed reading of the hour, so two concurrent batches cannot overwrite each other's
rows with stale folds. `usage_levels_rebuild` refolds a tenant's level metrics from scratch (the
migration's backfill and the benches, which load raw events directly).
"""

from __future__ import annotations

from django.db import connection, transaction

from billing.models import Metric, Tenant, UsageEvent
from billing.models.usage_levels import LEVEL_AGGREGATIONS, UsageLevel

_FOLDED = ("first_at", "last_at", "last_event", "last_quantity", "integral", "event_count")
_PER_HOUR = ("hour_first_at", "hour_integral", "end_of_hour")
_COLUMNS = ", ".join(("tenant_id", "metric_id", "hour", "resource_id", "cost_center", *_FOLDED, *_PER_HOUR))
_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_FOLDED, *_PER_HOUR))


def _fold_sql(source: str) -> str:
    """Return INSERT … SELECT folding `source` (id, metric_id, quantity, ts, resource_id, cost_center,
    hour: every event of each (metric, hour, resource) it names) into `UsageLevel` rows, upserted.

    Each reading holds its level until the resource's next reading in the hour (ties by arrival) or
    the hour's end; seconds are exact numerics (EXTRACT returns numeric), so the integral is exact.
    """
    last = "ORDER BY ts DESC, id DESC"
    piece = "quantity * EXTRACT(EPOCH FROM (coalesce(next_ts, hour + interval '1 hour') - ts))"
    return f"""
        INSERT INTO {UsageLevel._meta.db_table} AS l ({_COLUMNS})
        SELECT %(t)s, metric_id, hour, resource_id, cost_center, min(ts), max(ts),
               (array_agg(id {last}))[1], (array_agg(quantity {last}))[1], sum({piece}), count(*),
               min(min(ts)) OVER rh, sum(sum({piece})) OVER rh,
               row_number() OVER (rh ORDER BY max(ts) DESC, (array_agg(id {last}))[1] DESC) = 1
        FROM (
            SELECT s.*, lead(s.ts) OVER (PARTITION BY s.metric_id, s.hour, s.resource_id ORDER BY s.ts, s.id) AS next_ts
            FROM ({source}) s
        ) x
        GROUP BY metric_id, hour, resource_id, cost_center
        WINDOW rh AS (PARTITION BY metric_id, hour, resource_id)
        ORDER BY 2, 3, 4, 5
        ON CONFLICT (tenant_id, metric_id, hour, resource_id, cost_center) DO UPDATE SET {_UPDATE}
    """


def level_rollup_cte() -> str:
    """Return the ingest statement's CTEs (after `ins`, which returns id, metric_id, quantity,
    "timestamp", resource_id, cost_center) refolding each (level metric, hour, resource) it touched."""
    events, metric = UsageEvent._meta.db_table, Metric._meta.db_table
    source = f"""
        SELECT e.id, e.metric_id, e.quantity, e."timestamp" AS ts, e.resource_id, e.cost_center, k.hour
        FROM lvl_touched k JOIN {events} e ON e.tenant_id = %(t)s AND e.metric_id = k.metric_id
             AND e.resource_id = k.resource_id
             AND e."timestamp" >= k.hour AND e."timestamp" < k.hour + interval '1 hour'
        UNION ALL
        SELECT i.id, i.metric_id, i.quantity, i."timestamp", i.resource_id, i.cost_center, k.hour
        FROM ins i JOIN lvl_touched k ON k.metric_id = i.metric_id AND k.resource_id = i.resource_id
             AND k.hour = date_trunc('hour', i."timestamp", 'UTC')
    """
    return f""", lvl_touched AS (
        SELECT DISTINCT i.metric_id, date_trunc('hour', i."timestamp", 'UTC') AS hour, i.resource_id
        FROM ins i JOIN {metric} m ON m.code = i.metric_id
        WHERE m.aggregation IN ({", ".join(f"'{a}'" for a in LEVEL_AGGREGATIONS)})
    ), lvl AS ({_fold_sql(source)}
    )"""


def level_rollup_lock(cur, tenant_id: str, metrics: list[str]) -> None:
    """Take the transaction's advisory locks of `metrics` (level metrics of a batch), in one order."""
    cur.execute(
        "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(%s || ':' || m, 16) AS k "
        "FROM unnest(%s::text[]) m ORDER BY 1 OFFSET 0) s",
        [f"usage_level:{tenant_id}", metrics],
    )


def usage_levels_rebuild(*, tenant_id: str | None = None, metrics: list[str] | None = None) -> int:
    """Refold `UsageLevel` from the raw events of `tenant_id` (default: every tenant) and of `metrics`
    (default: every level metric); return the rows written."""
    codes = list(Metric.objects.filter(aggregation__in=LEVEL_AGGREGATIONS).values_list("code", flat=True))
    codes = [c for c in codes if metrics is None or c in metrics]
    tenants = [tenant_id] if tenant_id else list(Tenant.objects.values_list("id", flat=True))
    table, events = UsageLevel._meta.db_table, UsageEvent._meta.db_table
    source = f"""
        SELECT id, metric_id, quantity, "timestamp" AS ts, resource_id, cost_center,
               date_trunc('hour', "timestamp", 'UTC') AS hour
        FROM {events} WHERE tenant_id = %(t)s AND metric_id = %(m)s
    """
    rows = 0
    with transaction.atomic(), connection.cursor() as cur:
        for tenant in tenants:
            for code in codes:
                level_rollup_lock(cur, tenant, [code])
                cur.execute(
                    f"DELETE FROM {table} WHERE tenant_id = %(t)s AND metric_id = %(m)s", {"t": tenant, "m": code}
                )
                cur.execute(_fold_sql(source), {"t": tenant, "m": code})
                rows += cur.rowcount
    return rows


def usage_levels_adopt(previous: dict[str, str]) -> list[str]:
    """Fold the existing events of the metrics that have just become level metrics; return their codes.

    `previous` is {code: aggregation} before a catalog or admin change (in the same transaction). The
    events table is locked against inserts first (SHARE ROW EXCLUSIVE: running ingests finish, new
    ones wait and then see the new aggregation), so no reading is folded by neither.
    """
    now = dict(Metric.objects.filter(code__in=list(previous)).values_list("code", "aggregation"))
    became = sorted(c for c, agg in now.items() if agg in LEVEL_AGGREGATIONS and previous[c] not in LEVEL_AGGREGATIONS)
    if became:
        with connection.cursor() as cur:
            cur.execute(f"LOCK TABLE {UsageEvent._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        usage_levels_rebuild(metrics=became)
    return became
