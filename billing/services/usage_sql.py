"""The text of the ingest statements (`billing.services.usage` runs them).

`ingest_sql` is the one statement that stores new events and folds them into every rollup; a batch
runs it over its staging table. `single_sql` is a single event's whole request in one statement: its
context checks, then the same inserts over a one-row source, in one of three shapes chosen by what
the process last read of the event's metric (`single_shape`):

- "plain": no `unique_count` value and no priced dimension keys, so the statement carries neither the
  per-day distinct insert nor the per-dimension rollups (each data-modifying CTE costs PostgreSQL an
  executor set-up and its relations' locks even when it writes nothing);
- "unique": a `unique_count` metric without dimension keys (the per-day distinct insert, no dimensions);
- "full": everything, as a batch.

The statement itself checks that the metric still has the shape it was chosen for (the catalog
check of its `ctx` CTE): when it does not, nothing is written and the caller takes the
transactional path, so a stale process never skips a rollup. The single statements are kept on one
line, the plain and unique ones under psycopg's cache limit for converted queries (4,096 bytes): their
placeholders are parsed once per process, not once per request (≈ 0.6 M instructions a request).
"""

from __future__ import annotations

import functools
import re

from billing.models import (
    Invoice,
    Metric,
    Tenant,
    UsageDailyDistinct,
    UsageEvent,
    UsageEventKey,
    UsageHourly,
    UsageRollup,
)
from billing.models.usage import UTC_HOUR_SQL
from billing.models.usage_levels import LEVEL_AGGREGATIONS
from billing.services.usage_dims import ingest_ctes
from billing.services.usage_levels import level_rollup_cte
from billing.services.usage_validation import MAX_DECIMAL_PLACES, MAX_ID_LENGTH, MAX_PROPERTIES_BYTES, MAX_QUANTITY
from billing_project.fields import INSTANT_MAX, INSTANT_MIN

COLUMNS = "event_id, metric_id, quantity, ts, resource_id, cost_center, properties"
SHAPES = ("plain", "unique", "full")
FINALIZED = ("open", "paid", "uncollectible")  # an invoice in these states closes its period to usage
# The batch statement's parameters, in the order of its placeholders ($1…; see `_positional`).
BATCH_PARAMS = ("t", "now", "latest", "shard", "body", "n")
# An event's unique_key, from its source row `s` and its metric `m`: only unique_count events carry one.
UNIQUE_KEY_SQL = "CASE WHEN m.aggregation = 'unique_count' THEN md5(s.properties ->> m.field) END"


def _upsert(table: str, alias: str, key: str, select: str) -> str:
    """Return INSERT … ON CONFLICT (`key`) DO UPDATE adding the sums, maxima and counts of `select` to `table`."""
    return f"""
        INSERT INTO {table} AS {alias} ({key}, quantity_sum, quantity_max, event_count)
        {select}
        ON CONFLICT ({key}) DO UPDATE SET
            quantity_sum = {alias}.quantity_sum + EXCLUDED.quantity_sum,
            quantity_max = GREATEST({alias}.quantity_max, EXCLUDED.quantity_max),
            event_count = {alias}.event_count + EXCLUDED.event_count"""


def _rollup_ctes(one_row: bool, rows: str = "ins") -> str:
    """Return the CTEs adding the rows of `rows` (default: the inserted events) to both rollup tables.

    Many rows are grouped once by the rollup's key (`grp`); the hourly table's groups add those up,
    so the events are sorted once. One row needs no grouping.
    """
    roll, hourly = UsageRollup._meta.db_table, UsageHourly._meta.db_table
    roll_key, hourly_key = (
        "tenant_id, metric_id, hour, resource_id, cost_center, shard",
        "tenant_id, metric_id, hour, shard",
    )
    hour = UTC_HOUR_SQL.format('"timestamp"')
    if one_row:
        roll_select = (
            f"SELECT %(t)s, metric_id, {hour}, resource_id, cost_center, %(shard)s, quantity, quantity, 1 FROM {rows}"
        )
        hourly_select = f"SELECT %(t)s, metric_id, {hour}, %(shard)s, quantity, quantity, 1 FROM {rows}"
        grp = ""
    else:
        grp = f"""grp AS (
        SELECT metric_id, {hour} AS hour, resource_id, cost_center, sum(quantity) AS qs, max(quantity) AS qm,
               count(*) AS n
        FROM {rows} GROUP BY 1, 2, 3, 4
    ), """
        roll_select = (
            "SELECT %(t)s, metric_id, hour, resource_id, cost_center, %(shard)s, qs, qm, n FROM grp ORDER BY 2, 3, 4, 5"
        )
        hourly_select = (
            "SELECT %(t)s, metric_id, hour, %(shard)s, sum(qs), max(qm), sum(n) FROM grp GROUP BY 2, 3 ORDER BY 2, 3"
        )
    return f"""{grp}roll AS ({_upsert(roll, "r", roll_key, roll_select)}
    ), hourly AS ({_upsert(hourly, "h", hourly_key, hourly_select)}
    )"""


def ingest_sql(
    source: str,
    returning_events: bool,
    levels: bool = False,
    prelude: str = "",
    tail: str = "",
    *,
    shape: str = "full",
    one_row: bool = False,
    fresh: bool = False,
    keyed: bool = False,
    folded: str = "ins",
) -> str:
    """Return the one statement that stores new events from `source` and folds them into the rollups.

    With `levels` (the batch holds events of `latest` / `weighted_sum` metrics) it also refolds the
    level rollup's touched hours (`usage_levels.level_rollup_cte`). `prelude` is CTEs placed before
    the inserts (ending with a comma), `tail` the final SELECT (default: the inserted (metric,
    timestamp) pairs, or their count). `shape` leaves out what a metric of that shape never writes
    (see the module docstring); `one_row` is a source already checked against the catalog (the
    single event: no join to it, no sort, no grouping). `fresh` (a batch's first attempt) inserts
    every key without `ON CONFLICT`: a key already stored (or being stored by a concurrent
    transaction) fails the statement with a unique violation, and `usage_ingest` runs the batch again
    without `fresh`, skipping duplicates; with no duplicate, the events need no join to the keys.
    `keyed`: the source is already checked against the catalog and carries each row's `unique_key`.
    `folded`: the relation the rollups add up, by default the inserted events (`ins`); with `fresh`,
    every row of a source that carries `unique_key` and "timestamp" is inserted or the statement
    fails, so the rollups may fold the source itself and the insert returns nothing.
    """
    ev, key, daily, metric = (
        UsageEvent._meta.db_table,
        UsageEventKey._meta.db_table,
        UsageDailyDistinct._meta.db_table,
        Metric._meta.db_table,
    )
    if not tail:
        tail = 'SELECT metric_id, "timestamp" FROM ins' if returning_events else "SELECT count(*) FROM ins"
    assert folded == "ins" or (fresh and keyed), "only a fresh, keyed source is folded itself"
    returning = (
        'RETURNING e.id, e.metric_id, e.quantity, e."timestamp", e.resource_id, e.cost_center, e.properties, '
        "e.unique_key"
    )
    if one_row:
        checked = ""
    elif keyed:
        checked = 'ORDER BY s.event_id COLLATE "C"'
    else:
        checked = f'JOIN {metric} m ON m.code = s.metric_id ORDER BY s.event_id COLLATE "C"'
    if shape == "plain":
        unique_key, ins_join = "NULL::text", ""
    elif keyed:
        unique_key, ins_join = "s.unique_key", ""
    else:
        unique_key = UNIQUE_KEY_SQL
        ins_join = f"JOIN {metric} m ON m.code = s.metric_id"
    # Only unique_count events carry a unique_key; a pair already known (the common case) is a
    # unique-index probe, no write, no row lock.
    daily_cte = f"""
    , daily AS (
        INSERT INTO {daily} (tenant_id, metric_id, day, unique_key)
        SELECT %(t)s, metric_id, ("timestamp" AT TIME ZONE 'UTC')::date, unique_key
        FROM {folded} WHERE unique_key IS NOT NULL GROUP BY 2, 3, 4 ORDER BY 2, 3, 4
        ON CONFLICT (tenant_id, metric_id, day, unique_key) DO NOTHING
    )"""
    return f"""
    WITH {prelude} k AS (
        INSERT INTO {key} AS k (tenant_id, event_id, "timestamp")
        SELECT %(t)s, s.event_id, s.ts FROM {source} {checked}
        {"" if fresh else "ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING k.event_id"}
    ), ins AS (
        INSERT INTO {ev} AS e (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id, cost_center,
                               properties, received_at, unique_key)
        SELECT %(t)s, s.event_id, s.metric_id, s.quantity, s.ts, s.resource_id, s.cost_center, s.properties,
               %(now)s, {unique_key}
        FROM {source} {"" if fresh else 'JOIN k ON k.event_id = s.event_id COLLATE "C"'} {ins_join}
        {returning if folded == "ins" else ""}
    ), {_rollup_ctes(one_row, folded)}{daily_cte if shape != "plain" else ""}{
        ingest_ctes(folded) if shape == "full" else ""
    }{level_rollup_cte() if levels else ""}
    {tail}
    """


SINGLE_VALUES = (
    "(VALUES (%(event_id)s::text, %(metric_id)s::text, %(quantity)s::numeric, %(ts)s::timestamptz, "
    "%(resource_id)s::text, %(cost_center)s::text, %(properties)s::jsonb))"
)


def single_shape(aggregation: str, has_dimensions: bool) -> str:
    """Return the single statement's shape for a metric of `aggregation` with or without priced dimension keys."""
    if has_dimensions:
        return "full"
    return "unique" if aggregation == "unique_count" else "plain"


def _shape_ok(shape: str, alias: str = "") -> str:
    """Return the condition (" AND …") that a metric row (`alias`) has at most `shape` (see the module docstring)."""
    m = f"{alias}." if alias else ""
    return {
        "plain": f" AND {m}aggregation <> 'unique_count' AND {m}dimension_keys = '[]'::jsonb",
        "unique": f" AND {m}dimension_keys = '[]'::jsonb",
        "full": "",
    }[shape]


@functools.cache
def single_sql(shape: str = "full") -> str:
    """Return the one-round-trip statement of a single event of a metric of `shape`, on one line.

    `ctx` answers what the Python checks could not (the metric still exists, is not a level and
    still has `shape`; no finalized invoice covers the timestamp) and whether the tenant has quotas
    or alerts. The event reaches the insert, and the Tenant row is created, only when those checks
    pass and the tenant has no quota; otherwise nothing is written and the caller takes the
    transactional path.
    """
    from quotas.selectors.quotas import quota_exists_sql
    from realtime.selectors.alerts import alert_exists_sql

    metric, invoice, tenant = Metric._meta.db_table, Invoice._meta.db_table, Tenant._meta.db_table
    levels = ", ".join(f"'{a}'" for a in LEVEL_AGGREGATIONS)
    finalized = ", ".join(f"'{s}'" for s in FINALIZED)
    prelude = f"""
    src ({COLUMNS}) AS {SINGLE_VALUES},
    ctx AS (
        SELECT EXISTS (SELECT 1 FROM {metric} WHERE code = src.metric_id
                         AND aggregation NOT IN ({levels}){_shape_ok(shape)}) AS metric_ok,
               EXISTS (SELECT 1 FROM {invoice} WHERE tenant_id = %(t)s AND status IN ({finalized})
                         AND period_start <= src.ts AND src.ts < period_end) AS closed,
               {quota_exists_sql(tenant_param="%(t)s")} AS any_quota,
               {alert_exists_sql(tenant_param="%(t)s")} AS alerts
        FROM src
    ),
    ok AS (SELECT src.* FROM src, ctx WHERE ctx.metric_ok AND NOT ctx.closed AND NOT ctx.any_quota),
    t AS (
        INSERT INTO {tenant} (id, name, email, address, tax_rate, stripe_customer_id, created_at)
        SELECT %(t)s, '', '', '', 0, '', now() FROM ok ON CONFLICT (id) DO NOTHING
    ),"""
    tail = (
        "SELECT ctx.metric_ok AND NOT ctx.closed AND NOT ctx.any_quota, ctx.any_quota, ctx.alerts, "
        "(SELECT count(*) FROM ins) FROM ctx"
    )
    sql = ingest_sql("ok s", returning_events=False, prelude=prelude, tail=tail, shape=shape, one_row=True)
    return " ".join(sql.split())


# --- a batch validated by the statement itself ---------------------------------------------------------
# `usage_validation.plain_batch` has checked each field's JSON type and the shape of its text (a plain
# decimal, an ISO 8601 instant, properties without floats); the statement checks the values. PostgreSQL
# reads a number as its exact literal where Python reads a float: a fractional quantity is taken only
# when it has at most 15 significant digits, where the two agree.
_BATCH_SOURCE = """ROWS FROM (jsonb_to_recordset(%(body)s::jsonb -> 'events') AS (
        event_id text, metric text, quantity text, "timestamp" text, resource_id text, cost_center text,
        properties jsonb)) WITH ORDINALITY AS r(event_id, metric, quantity, "timestamp", resource_id, cost_center,
        properties, ord)"""
_BATCH_FIELDS = """r.ord, r.event_id, r.metric AS metric_id,
        CASE WHEN r.quantity IS NULL THEN 1::numeric
             WHEN strpos(r.quantity, '.') = 0 OR length(ltrim(replace(r.quantity, '.', ''), '0')) <= 15
             THEN r.quantity::numeric END AS quantity,
        CASE WHEN r."timestamp" IS NULL THEN %(now)s::timestamptz
             WHEN right(r."timestamp", 1) = 'Z' OR substr(r."timestamp", length(r."timestamp") - 5, 1) IN ('+', '-')
             THEN r."timestamp"::timestamptz
             ELSE (r."timestamp" || 'Z')::timestamptz END AS ts,
        coalesce(r.resource_id, '') AS resource_id, coalesce(r.cost_center, '') AS cost_center,
        coalesce(r.properties, '{}'::jsonb) AS properties"""


# Properties without floats (see plain_batch) print at most 6 times their jsonb size (a control
# character's \u escape), and never shorter than orjson's compact form: within this many bytes of
# jsonb they are surely within MAX_PROPERTIES_BYTES, and are not printed to be measured.
_PROPERTIES_BINARY_SURE = MAX_PROPERTIES_BYTES // 6


@functools.cache
def batch_sql(fresh: bool, repeats: bool = True, shape: str = "full") -> str:
    """Return the statement storing a whole batch from its JSON body (`%(body)s`, `%(n)s` events).

    `src` reads every event (see `_batch_fields`); `ctx` decides: every event valid against the
    catalog (a known metric that is not a level and has at most `shape`), the tenant's live cost
    centers, the finalized periods and the time bounds, exactly `n` events, and a tenant without
    quotas (their enforcement and notices need the Python path). Only then are the Tenant row, keys,
    events and rollups written, the first occurrence of a repeated event_id winning; the final row
    says (taken, any quota, any alert, events inserted). `fresh`: as `ingest_sql`; `repeats`: some
    event_id occurs more than once in the body (only its first occurrence is stored); `shape`: as
    `single_sql`'s, the widest of the batch's metrics (a "plain" batch carries neither the per-day
    distinct insert nor the per-dimension rollups). Without repeats, `ok` is not materialized: each
    insert reads the checked rows of `src` itself (≈ 0.5-1 ms less a batch than copying them once more).
    """
    from costcenters.selectors.cost_centers import cost_center_live_sql
    from quotas.selectors.quotas import quota_exists_sql
    from realtime.selectors.alerts import alert_exists_sql

    metric, invoice, tenant = Metric._meta.db_table, Invoice._meta.db_table, Tenant._meta.db_table
    levels = ", ".join(f"'{a}'" for a in LEVEL_AGGREGATIONS)
    finalized = ", ".join(f"'{s}'" for s in FINALIZED)
    prelude = f"""
    closed AS (
        SELECT range_agg(tstzrange(period_start, period_end)) AS periods FROM {invoice}
        WHERE tenant_id = %(t)s AND status IN ({finalized})
    ),
    src AS (
        SELECT s.*, m.code IS NOT NULL AND m.aggregation NOT IN ({levels}){_shape_ok(shape, "m")} AS metric_ok,
               {UNIQUE_KEY_SQL} AS unique_key
        FROM (SELECT {_BATCH_FIELDS} FROM {_BATCH_SOURCE}) s LEFT JOIN {metric} m ON m.code = s.metric_id
    ),
    checked AS (
        SELECT count(*) AS n, bool_and(coalesce(
            length(s.event_id) BETWEEN 1 AND {MAX_ID_LENGTH} AND s.metric_ok
            AND s.quantity <= {MAX_QUANTITY} AND scale(s.quantity) <= {MAX_DECIMAL_PLACES}
            AND s.ts >= '{INSTANT_MIN.isoformat()}' AND s.ts < '{INSTANT_MAX.isoformat()}' AND s.ts <= %(latest)s
            AND NOT coalesce((SELECT periods FROM closed) @> s.ts, false)
            AND length(s.resource_id) <= {MAX_ID_LENGTH}
            AND (s.cost_center = '' OR {cost_center_live_sql(tenant_param="%(t)s", code="s.cost_center")})
            AND (pg_column_size(s.properties) <= {_PROPERTIES_BINARY_SURE}
                 OR octet_length(s.properties::text) <= {MAX_PROPERTIES_BYTES}), false)
        ) AS all_ok
        FROM src s
    ),
    ctx AS (
        SELECT coalesce(all_ok, false) AND n = %(n)s AND NOT f.any_quota AS go, f.any_quota, f.alerts
        FROM checked, (SELECT {quota_exists_sql(tenant_param="%(t)s")} AS any_quota,
                              {alert_exists_sql(tenant_param="%(t)s")} AS alerts) f
    ),
    ok AS {"" if repeats else "NOT MATERIALIZED "}(
        SELECT {"DISTINCT ON (src.event_id)" if repeats else ""} src.event_id, src.metric_id, src.quantity, src.ts,
               src.resource_id, src.cost_center, src.properties, src.unique_key, src.ts AS "timestamp"
        FROM src, ctx WHERE ctx.go {"ORDER BY src.event_id, src.ord" if repeats else ""}
    ),
    t AS (
        INSERT INTO {tenant} (id, name, email, address, tax_rate, stripe_customer_id, created_at)
        SELECT %(t)s, '', '', '', 0, '', now() FROM ctx WHERE go ON CONFLICT (id) DO NOTHING
    ),"""
    tail = f"SELECT ctx.go, ctx.any_quota, ctx.alerts, (SELECT count(*) FROM {'ok' if fresh else 'ins'}) FROM ctx"
    return _positional(
        ingest_sql(
            "ok s",
            returning_events=False,
            prelude=prelude,
            tail=tail,
            fresh=fresh,
            keyed=True,
            folded="ok" if fresh else "ins",
            shape=shape,
        ),
        BATCH_PARAMS,
    )


def _positional(sql: str, names: tuple[str, ...]) -> str:
    """Return `sql` with PostgreSQL's own placeholders: each %(name)s as $1, $2… in the order of `names`.

    For psycopg's `RawCursor`, which sends the text as it is: psycopg converts a named query on every
    execution when it is longer than its cache takes (4,096 characters), ≈ 0.2 ms for this one.
    """
    number = {name: f"${i}" for i, name in enumerate(names, 1)}
    return re.sub(r"%\((\w+)\)s|%%", lambda m: number[m[1]] if m[1] else "%", sql)
