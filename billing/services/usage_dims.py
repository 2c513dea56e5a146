"""Part of the usage writer: the rollups per priced dimension (`UsageDimHourly`, `UsageDimRollup`).

The ingest statement (`billing.services.usage_sql.ingest_sql`) folds each new event of a metric with
priced keys into both tables through `ingest_ctes`: the keys come from `Metric.dimension_keys`, read
by a join in that same statement, so the projection always uses the keys committed when it ran.

`usage_dimensions_sync` is called by every catalog change that can change priced keys (catalog load,
plan admin, price overrides). For each metric whose keys changed it stores the new keys and, in the
same transaction, rebuilds that metric's rows exactly from the raw events of every tenant's open
periods: from the end of the tenant's last closed period (finalized invoice), or from its first
event when it has none. Rows before that hour (closed periods, whose invoices hold their lines and
are never re-priced) are left as they were, and `UsageDimCoverage` records the hour so readers take
raw events for anything earlier. The events table is locked against inserts (SHARE ROW EXCLUSIVE)
for the rebuild: an ingest running concurrently either committed before it (its events are read)
or waits and then projects on the new keys, so no row is ever folded with stale keys.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.db import connection, transaction

from billing.models import (
    Charge,
    Invoice,
    Metric,
    PriceOverride,
    Tenant,
    UsageDimCoverage,
    UsageDimHourly,
    UsageDimRollup,
    UsageEvent,
)
from billing.models.usage import UTC_HOUR_SQL

#: Before any event: a tenant with no closed period is rebuilt from its first event.
EVER = datetime(1, 1, 1, tzinfo=UTC)


def project_sql(properties: str, keys: str) -> str:
    """Return SQL for the dims of `properties` (jsonb) on `keys` (a jsonb array of key names).

    Each value is kept as the text a filter compares (`->>`); keys with no value are left out.
    """
    return (
        f"(SELECT COALESCE(jsonb_object_agg(k, {properties} ->> k), '{{}}'::jsonb) "
        f"FROM jsonb_array_elements_text({keys}) AS k WHERE {properties} ->> k IS NOT NULL)"
    )


def ingest_ctes(source: str = "ins") -> str:
    """Return the ingest statement's CTEs folding `source` (inserted events with properties) in.

    Does nothing for metrics without priced keys (the join keeps none of their rows).
    """
    metric, hourly, rollup = Metric._meta.db_table, UsageDimHourly._meta.db_table, UsageDimRollup._meta.db_table
    return f"""
    , dim_src AS (
        SELECT i.metric_id, {UTC_HOUR_SQL.format('i."timestamp"')} AS hour, i.resource_id, i.cost_center,
               i.quantity, {project_sql("i.properties", "dm.dimension_keys")} AS dims
        FROM {source} i JOIN {metric} dm ON dm.code = i.metric_id AND dm.dimension_keys <> '[]'::jsonb
    ), dim_roll AS (
        INSERT INTO {rollup} AS r (tenant_id, metric_id, hour, resource_id, cost_center, dims,
                                   quantity_sum, quantity_max, event_count)
        SELECT %(t)s, metric_id, hour, resource_id, cost_center, dims, sum(quantity), max(quantity), count(*)
        FROM dim_src GROUP BY 2, 3, 4, 5, 6 ORDER BY 2, 3, 4, 5, 6
        ON CONFLICT (tenant_id, metric_id, hour, resource_id, cost_center, dims) DO UPDATE SET
            quantity_sum = r.quantity_sum + EXCLUDED.quantity_sum,
            quantity_max = GREATEST(r.quantity_max, EXCLUDED.quantity_max),
            event_count = r.event_count + EXCLUDED.event_count
    ), dim_hourly AS (
        INSERT INTO {hourly} AS h (tenant_id, metric_id, hour, dims, quantity_sum, quantity_max, event_count)
        SELECT %(t)s, metric_id, hour, dims, sum(quantity), max(quantity), count(*)
        FROM dim_src GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
        ON CONFLICT (tenant_id, metric_id, hour, dims) DO UPDATE SET
            quantity_sum = h.quantity_sum + EXCLUDED.quantity_sum,
            quantity_max = GREATEST(h.quantity_max, EXCLUDED.quantity_max),
            event_count = h.event_count + EXCLUDED.event_count
    )"""


def priced_keys() -> dict[str, list[str]]:
    """Return {metric: sorted property keys any filter on it reads} over the catalog and price overrides."""
    keys: dict[str, set[str]] = {}
    for metric, filters in Charge.objects.values_list("metric_id", "filters"):
        for flt in filters or []:
            keys.setdefault(metric, set()).update(flt.get("properties") or {})
    # Every override, ended or not: a superset of the keys prices exactly, and they are few.
    for charges in PriceOverride.objects.values_list("charges", flat=True):
        for charge in charges or []:
            for flt in charge.get("filters") or []:
                keys.setdefault(charge["metric"], set()).update(flt.get("properties") or {})
    return {metric: sorted(found) for metric, found in keys.items() if found}


def _changed() -> dict[str, list[str]]:
    wanted = priced_keys()
    return {
        code: wanted.get(code, [])
        for code, stored in Metric.objects.values_list("code", "dimension_keys")
        if sorted(stored or []) != wanted.get(code, [])
    }


def _open_since(cur) -> tuple[list[str], list[datetime]]:
    """Return (tenant ids, the hour each one's open periods start from: its last closed period's end)."""
    from billing.services.usage_sql import FINALIZED  # the ingest's own notion of a closed period

    cur.execute(
        f"SELECT x.id, c.since FROM {Tenant._meta.db_table} x LEFT JOIN ("
        f"  SELECT tenant_id, date_trunc('hour', max(period_end), 'UTC') AS since FROM {Invoice._meta.db_table}"
        f"  WHERE status = ANY(%s) GROUP BY 1) c ON c.tenant_id = x.id",
        [list(FINALIZED)],
    )
    rows = cur.fetchall()
    return [r[0] for r in rows], [r[1] or EVER for r in rows]


def _rebuild(cur, metric: str, keys: list[str], tenants: list[str], since: list[datetime]) -> None:
    """Replace `metric`'s dimension rows from each tenant's `since` with ones rebuilt from raw events."""
    params = {"m": metric, "keys": json.dumps(keys), "ids": tenants, "since": since}
    t = "unnest(%(ids)s::text[], %(since)s::timestamptz[]) AS t(tenant_id, since)"
    cur.execute(f"DELETE FROM {UsageDimCoverage._meta.db_table} WHERE metric_id = %(m)s", params)
    if not keys:  # no filter reads the metric any more: nothing of it is kept
        for table in (UsageDimHourly, UsageDimRollup):
            cur.execute(f"DELETE FROM {table._meta.db_table} WHERE metric_id = %(m)s", params)
        return
    for table in (UsageDimHourly, UsageDimRollup):
        cur.execute(
            f"DELETE FROM {table._meta.db_table} d USING {t} "
            f"WHERE d.tenant_id = t.tenant_id AND d.metric_id = %(m)s AND d.hour >= t.since",
            params,
        )
        # Rows of a tenant id with no Tenant row (none are written that way) cannot be trusted either.
        cur.execute(
            f"DELETE FROM {table._meta.db_table} WHERE metric_id = %(m)s AND tenant_id <> ALL(%(ids)s::text[])",
            params,
        )
    cur.execute(
        f"""
        WITH ev AS (
            SELECT t.tenant_id, date_trunc('hour', e."timestamp", 'UTC') AS hour, e.resource_id, e.cost_center,
                   e.quantity, {project_sql("e.properties", "%(keys)s::jsonb")} AS dims
            FROM {t} CROSS JOIN LATERAL (
                SELECT * FROM {UsageEvent._meta.db_table} x
                WHERE x.tenant_id = t.tenant_id AND x.metric_id = %(m)s AND x."timestamp" >= t.since
            ) e
        ), roll AS (
            INSERT INTO {UsageDimRollup._meta.db_table} (tenant_id, metric_id, hour, resource_id, cost_center, dims,
                                                         quantity_sum, quantity_max, event_count)
            SELECT tenant_id, %(m)s, hour, resource_id, cost_center, dims, sum(quantity), max(quantity), count(*)
            FROM ev GROUP BY 1, 3, 4, 5, 6
        )
        INSERT INTO {UsageDimHourly._meta.db_table} (tenant_id, metric_id, hour, dims,
                                                     quantity_sum, quantity_max, event_count)
        SELECT tenant_id, %(m)s, hour, dims, sum(quantity), max(quantity), count(*) FROM ev GROUP BY 1, 3, 4
        """,
        params,
    )
    cur.execute(
        f"INSERT INTO {UsageDimCoverage._meta.db_table} (tenant_id, metric_id, valid_from) "
        f"SELECT t.tenant_id, %(m)s, t.since FROM {t} WHERE t.since > %(ever)s",
        {**params, "ever": EVER},
    )


def usage_dimensions_sync() -> list[str]:
    """Return the metrics whose priced keys changed, after storing them and rebuilding their open periods.

    Call it inside the transaction of a catalog change (it opens one otherwise): the new keys, the
    rebuilt rows and the catalog change commit together, so readers see either the old state or the new.
    """
    if not _changed():
        return []
    with transaction.atomic(), connection.cursor() as cur:
        # Concurrent ingests finish first; later ones wait for this commit and then use the new keys.
        cur.execute(f"LOCK TABLE {UsageEvent._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
        changed = _changed()  # again, under the lock: another catalog change may have synced
        if not changed:
            return []
        tenants, since = _open_since(cur)
        for metric, keys in sorted(changed.items()):
            Metric.objects.filter(code=metric).update(dimension_keys=keys)
            _rebuild(cur, metric, keys, tenants, since)
    return sorted(changed)
