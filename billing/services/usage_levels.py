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
_KEY = ("metric_id", "hour", "resource_id", "cost_center")
_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_FOLDED, *_PER_HOUR, "cum_integral"))
_SECONDS = "EXTRACT(EPOCH FROM {} - ({} + interval '1 hour'))"


def _fold_select(source: str) -> str:
    """Return SELECT folding `source` (id, metric_id, quantity, ts, resource_id, cost_center, hour:
    every event of each (metric, hour, resource) it names) into `UsageLevel` rows (all but cum_integral).

    Each reading holds its level until the resource's next reading in the hour (ties by arrival) or
    the hour's end; seconds are exact numerics (EXTRACT returns numeric), so the integral is exact.
    """
    last = "ORDER BY ts DESC, id DESC"
    piece = "quantity * EXTRACT(EPOCH FROM (coalesce(next_ts, hour + interval '1 hour') - ts))"
    return f"""
        SELECT metric_id, hour, resource_id, cost_center, min(ts) AS first_at, max(ts) AS last_at,
               (array_agg(id {last}))[1] AS last_event, (array_agg(quantity {last}))[1] AS last_quantity,
               sum({piece}) AS integral, count(*) AS event_count,
               min(min(ts)) OVER rh AS hour_first_at, sum(sum({piece})) OVER rh AS hour_integral,
               row_number() OVER (rh ORDER BY max(ts) DESC, (array_agg(id {last}))[1] DESC) = 1 AS end_of_hour
        FROM (
            SELECT s.*, lead(s.ts) OVER (PARTITION BY s.metric_id, s.hour, s.resource_id ORDER BY s.ts, s.id) AS next_ts
            FROM ({source}) s
        ) x
        GROUP BY metric_id, hour, resource_id, cost_center
        WINDOW rh AS (PARTITION BY metric_id, hour, resource_id)
    """


def _insert_sql(rows: str, cum: str) -> str:
    """Return the upsert of `rows` (a `_fold_select`) into `UsageLevel`, `cum` giving cum_integral."""
    columns = ", ".join(("tenant_id", *_KEY, *_FOLDED, *_PER_HOUR, "cum_integral"))
    return f"""
        INSERT INTO {UsageLevel._meta.db_table} AS l ({columns})
        SELECT %(t)s, {", ".join(f"r.{c}" for c in (*_KEY, *_FOLDED, *_PER_HOUR))}, {cum}
        {rows}
        ORDER BY 2, 3, 4, 5
        ON CONFLICT (tenant_id, metric_id, hour, resource_id, cost_center) DO UPDATE SET {_UPDATE}
    """


def _cum_ctes() -> str:
    """Return the CTEs `lvl_cum` (metric, resource, hour, cum, new) after `lvl_rows`: every end-of-hour
    row's ∫ level dt from the resource's first reading to its hour's end, from the earliest refolded
    hour on (the previous row's cum plus its level held until this hour's first reading, plus this
    hour's integral), for the refolded rows (new) and the stored later ones, whose cum shifts."""
    lv = UsageLevel._meta.db_table
    return f"""lvl_from AS (
        SELECT metric_id, resource_id, min(hour) AS h0 FROM lvl_rows GROUP BY 1, 2
    ), lvl_seq (metric_id, resource_id, hour, f, i, e, base, new) AS (
        SELECT metric_id, resource_id, hour, hour_first_at, hour_integral, last_quantity, NULL::numeric, true
        FROM lvl_rows WHERE end_of_hour
        UNION ALL
        SELECT l.metric_id, l.resource_id, l.hour, l.hour_first_at, l.hour_integral, l.last_quantity, NULL, false
        FROM lvl_from f JOIN {lv} l ON l.tenant_id = %(t)s AND l.metric_id = f.metric_id
             AND l.resource_id = f.resource_id AND l.end_of_hour AND l.hour > f.h0
        WHERE NOT EXISTS (SELECT 1 FROM lvl_rows r WHERE r.metric_id = l.metric_id
                          AND r.resource_id = l.resource_id AND r.hour = l.hour)
        UNION ALL
        SELECT f.metric_id, f.resource_id, b.hour, NULL, NULL, b.last_quantity, b.cum_integral, false
        FROM lvl_from f CROSS JOIN LATERAL (
            SELECT hour, last_quantity, cum_integral FROM {lv} WHERE tenant_id = %(t)s AND metric_id = f.metric_id
               AND resource_id = f.resource_id AND end_of_hour AND hour < f.h0 ORDER BY hour DESC LIMIT 1
        ) b
    ), lvl_cum AS (
        SELECT metric_id, resource_id, hour, new, base IS NULL AS mine,
               sum(coalesce(base, coalesce(p * {_SECONDS.format("f", "ph")}, 0) + i))
                   OVER (PARTITION BY metric_id, resource_id ORDER BY hour) AS cum
        FROM (SELECT s.*, lag(e) OVER w AS p, lag(hour) OVER w AS ph FROM lvl_seq s
              WINDOW w AS (PARTITION BY metric_id, resource_id ORDER BY hour)) x
    )"""


def level_rollup_cte() -> str:
    """Return the ingest statement's CTEs (after `ins`, which returns id, metric_id, quantity,
    "timestamp", resource_id, cost_center) refolding each (level metric, hour, resource) it touched."""
    events, metric, lv = UsageEvent._meta.db_table, Metric._meta.db_table, UsageLevel._meta.db_table
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
    rows = """FROM lvl_rows r LEFT JOIN lvl_cum c ON r.end_of_hour AND c.new AND c.metric_id = r.metric_id
             AND c.resource_id = r.resource_id AND c.hour = r.hour"""
    return f""", lvl_touched AS (
        SELECT DISTINCT i.metric_id, date_trunc('hour', i."timestamp", 'UTC') AS hour, i.resource_id
        FROM ins i JOIN {metric} m ON m.code = i.metric_id
        WHERE m.aggregation IN ({", ".join(f"'{a}'" for a in LEVEL_AGGREGATIONS)})
    ), lvl_rows AS ({_fold_select(source)}
    ), {_cum_ctes()}, lvl AS ({_insert_sql(rows, "c.cum")}
    ), lvl_shift AS (
        UPDATE {lv} l SET cum_integral = c.cum FROM lvl_cum c
        WHERE l.tenant_id = %(t)s AND l.metric_id = c.metric_id AND l.resource_id = c.resource_id
          AND l.hour = c.hour AND l.end_of_hour AND NOT c.new AND c.mine
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
    cum = f"""
        UPDATE {table} l SET cum_integral = c.cum FROM (
            SELECT resource_id, hour, sum(coalesce(p * {_SECONDS.format("f", "ph")}, 0) + i)
                       OVER (PARTITION BY resource_id ORDER BY hour) AS cum
            FROM (SELECT resource_id, hour, hour_first_at AS f, hour_integral AS i, lag(last_quantity) OVER w AS p,
                         lag(hour) OVER w AS ph
                  FROM {table} WHERE tenant_id = %(t)s AND metric_id = %(m)s AND end_of_hour
                  WINDOW w AS (PARTITION BY resource_id ORDER BY hour)) x
        ) c
        WHERE l.tenant_id = %(t)s AND l.metric_id = %(m)s AND l.end_of_hour AND l.resource_id = c.resource_id
          AND l.hour = c.hour
    """
    rows = 0
    with transaction.atomic(), connection.cursor() as cur:
        for tenant in tenants:
            for code in codes:
                level_rollup_lock(cur, tenant, [code])
                cur.execute(
                    f"DELETE FROM {table} WHERE tenant_id = %(t)s AND metric_id = %(m)s", {"t": tenant, "m": code}
                )
                cur.execute(_insert_sql(f"FROM ({_fold_select(source)}) r", "NULL"), {"t": tenant, "m": code})
                rows += cur.rowcount
                cur.execute(cum, {"t": tenant, "m": code})
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
