"""Usage ingestion: validate events with plain code, store each exactly once, keep rollups in step.

This is the one writer of `UsageEvent`, `UsageRollup` and `UsageHourly` (and of `unique_key`).
Everything a request needs from the database (tenant row, catalog, closed periods, whether any hard
quota exists) comes back in one round trip; events are validated in Python against that snapshot
(no serializer or ORM object per event); then one statement with data-modifying CTEs inserts the
new events (`ON CONFLICT (tenant_id, event_id) DO NOTHING`: the unique index, not a prior read,
decides what is a duplicate) and folds exactly those rows into both rollup tables. A batch reaches
that statement through `COPY` into a per-connection TEMP staging table.

Rollup rows are upserted in key order so two concurrent batches lock them in the same order; a
deadlock or serialization failure still retries the whole transaction, which is safe because it is
all-or-nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import orjson
import psycopg
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework import exceptions

from billing.models import Invoice, Metric, Tenant, UsageEvent, UsageHourly, UsageRollup
from billing_project.fields import INSTANT_RANGE_DETAIL, TENANT_ID_RE, instant_in_range
from billing_project.observability.metrics import observe_ingest

MAX_BATCH = 1000
MAX_ID_LENGTH = 128
MAX_COST_CENTER_LENGTH = 64
MAX_PROPERTIES_BYTES = 4096
MAX_FUTURE = timedelta(minutes=5)
MAX_DECIMAL_PLACES = 12
# NOTE: one event may carry at most 10^15; rollup columns hold 30 digits with 12 decimals (< 10^18),
# so about a thousand maximal events fit in one hour's bucket before the column would overflow, which
# is then reported as a 400 (quantity_overflow), never a 500.
MAX_QUANTITY = Decimal(10) ** 15
MAX_ATTEMPTS = 5
RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
FINALIZED = ("open", "paid", "uncollectible")
ONE = Decimal(1)
DECIMAL_STRING_RE = re.compile(r"\A-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")


@dataclass
class IngestResult:
    """What one ingest call stored: `accepted` new events and `duplicates` skipped."""

    accepted: int
    duplicates: int


@dataclass
class _Context:
    """The catalog and tenant facts one request validates against (read once per request)."""

    metrics: dict[str, tuple[str, str]]
    closed: list[tuple[datetime, datetime]]
    has_hard_quota: bool
    has_alerts: bool
    tenant_id: str
    _cost_centers: set[str] | None = field(default=None)

    def cost_centers(self) -> set[str]:
        if self._cost_centers is None:
            from costcenters.selectors.cost_centers import cost_center_codes

            self._cost_centers = cost_center_codes(tenant_id=self.tenant_id)
        return self._cost_centers


class _Errors:
    """Collects every problem of a request as {attr: [ErrorDetail]}, raised at the end as one 400."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.items: dict[str, list] = {}

    def add(self, attr: str, detail: str, code: str) -> None:
        self.items.setdefault(self.prefix + attr, []).append(exceptions.ErrorDetail(detail, code=code))

    def raise_if_any(self) -> None:
        if self.items:
            raise exceptions.ValidationError(self.items)


def validate_tenant_id(tenant_id: str) -> None:
    """Raise 400 unless `tenant_id` is 1–64 characters of [A-Za-z0-9_.-]."""
    if not TENANT_ID_RE.match(tenant_id or ""):  # \A…\Z: the whole id
        raise exceptions.ValidationError(
            {"tenant_id": [exceptions.ErrorDetail("A tenant id is 1–64 characters of [A-Za-z0-9_.-].", code="invalid")]}
        )


def _load_context(cur, tenant_id: str) -> _Context:
    """Return the request's context, creating the Tenant row on first use, in one round trip."""
    from quotas.models import Quota
    from realtime.models import Alert

    cur.execute(
        f"""
        WITH t AS (
            INSERT INTO {Tenant._meta.db_table} (id, name, email, address, tax_rate, stripe_customer_id, created_at)
            VALUES (%(t)s, '', '', '', 0, '', now()) ON CONFLICT (id) DO NOTHING
        )
        SELECT
            (SELECT array_agg(code) FROM {Metric._meta.db_table}),
            (SELECT array_agg(aggregation) FROM {Metric._meta.db_table}),
            (SELECT array_agg(field) FROM {Metric._meta.db_table}),
            (SELECT array_agg(period_start) FROM {Invoice._meta.db_table}
              WHERE tenant_id = %(t)s AND status = ANY(%(fin)s)),
            (SELECT array_agg(period_end) FROM {Invoice._meta.db_table}
              WHERE tenant_id = %(t)s AND status = ANY(%(fin)s)),
            EXISTS (SELECT 1 FROM {Quota._meta.db_table} WHERE tenant_id = %(t)s AND enforcement = 'hard'),
            EXISTS (SELECT 1 FROM {Alert._meta.db_table} WHERE tenant_id = %(t)s)
        """,
        {"t": tenant_id, "fin": list(FINALIZED)},
    )
    codes, aggs, fields, starts, ends, hard, alerts = cur.fetchone()
    metrics = {c: (a, f) for c, a, f in zip(codes or [], aggs or [], fields or [], strict=False)}
    closed = list(zip(starts or [], ends or [], strict=False))
    return _Context(
        metrics=metrics, closed=closed, has_hard_quota=bool(hard), has_alerts=bool(alerts), tenant_id=tenant_id
    )


def _parse_timestamp(value) -> datetime | None:
    """Return an aware UTC datetime from an ISO 8601 timestamp or date string, or None if invalid."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _parse_quantity(value) -> tuple[Decimal | None, str, str]:
    """Return (quantity, "", "") or (None, detail, code) for a bad one (an absent quantity is 1, by the caller)."""
    if value is None:
        return None, "A quantity may not be null (leave it out for 1).", "null"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None, "A quantity must be a number or a decimal string.", "invalid_quantity"
    if isinstance(value, str) and len(value) > 64:
        return None, "The quantity is too large.", "max_value"
    if isinstance(value, str) and not DECIMAL_STRING_RE.match(value):
        return None, 'A quantity string is a plain decimal like "12.5" (no spaces or separators).', "invalid_quantity"
    try:
        q = Decimal(str(value).strip()) if not isinstance(value, int) else Decimal(value)
    except (InvalidOperation, ValueError):
        return None, "A quantity must be a number or a decimal string.", "invalid_quantity"
    if not q.is_finite():
        return None, "A quantity must be a finite number.", "invalid_quantity"
    if q < 0:
        return None, "A quantity must be zero or more.", "min_value"
    if q > MAX_QUANTITY:
        return None, f"A quantity may be at most {MAX_QUANTITY:f}.", "max_value"
    exponent = q.as_tuple().exponent
    if exponent < -MAX_DECIMAL_PLACES and q != q.quantize(Decimal(1).scaleb(-MAX_DECIMAL_PLACES)):
        return None, f"A quantity has at most {MAX_DECIMAL_PLACES} decimal places.", "max_decimal_places"
    return q, "", ""


def _clean_events(  # noqa: C901 - removed by 13b (a table of field checks)
    ctx: _Context, events: list, now: datetime, errors: _Errors, index_attrs: bool
) -> list[tuple]:
    """Return the rows to store (first occurrence of each event_id), recording problems in `errors`.

    A row is (event_id, metric, quantity, timestamp, resource_id, cost_center, properties_json).
    """
    rows: list[tuple] = []
    latest = now + MAX_FUTURE
    metrics = ctx.metrics
    closed = ctx.closed
    for i, ev in enumerate(events):
        p = f"{i}." if index_attrs else ""
        if not isinstance(ev, dict):
            errors.add(f"{i}" if index_attrs else "non_field_errors", "An event must be a JSON object.", "invalid")
            continue
        ok = True
        event_id = ev.get("event_id")
        if event_id is None or event_id == "":
            errors.add(p + "event_id", "This field is required.", "required")
            ok = False
        elif not isinstance(event_id, str):
            errors.add(p + "event_id", "An event_id is a string.", "invalid")
            ok = False
        elif len(event_id) > MAX_ID_LENGTH:
            errors.add(p + "event_id", f"An event_id has at most {MAX_ID_LENGTH} characters.", "max_length")
            ok = False
        metric = ev.get("metric")
        if metric is None or metric == "":
            errors.add(p + "metric", "This field is required.", "required")
            ok = False
        elif not isinstance(metric, str) or metric not in metrics:
            errors.add(p + "metric", f"Unknown metric '{str(metric)[:64]}'.", "unknown_metric")
            ok = False
        quantity, detail, code = _parse_quantity(ev["quantity"]) if "quantity" in ev else (ONE, "", "")
        if quantity is None:
            errors.add(p + "quantity", detail, code)
            ok = False
        raw_ts = ev.get("timestamp")
        if raw_ts is None:
            ts = now
        else:
            ts = _parse_timestamp(raw_ts)
            if ts is None:
                errors.add(p + "timestamp", "Expected an ISO 8601 timestamp or date.", "invalid_datetime")
                ok = False
            elif not instant_in_range(ts):
                errors.add(p + "timestamp", INSTANT_RANGE_DETAIL, "out_of_range")
                ok = False
            elif ts > latest:
                errors.add(p + "timestamp", "A timestamp may be at most 5 minutes in the future.", "future_timestamp")
                ok = False
            else:
                for lo, hi in closed:
                    if lo <= ts < hi:
                        errors.add(
                            p + "timestamp",
                            "This timestamp falls in a period already covered by a finalized invoice.",
                            "period_closed",
                        )
                        ok = False
                        break
        resource_id = ev.get("resource_id")
        if resource_id is None:
            resource_id = ""
        elif not isinstance(resource_id, str):
            errors.add(p + "resource_id", "A resource_id is a string.", "invalid")
            ok = False
        elif len(resource_id) > MAX_ID_LENGTH:
            errors.add(p + "resource_id", f"A resource_id has at most {MAX_ID_LENGTH} characters.", "max_length")
            ok = False
        cost_center = ev.get("cost_center")
        if cost_center is None:
            cost_center = ""
        elif not isinstance(cost_center, str):
            errors.add(p + "cost_center", "A cost_center is a cost-center code (string).", "invalid")
            ok = False
        elif cost_center and (len(cost_center) > MAX_COST_CENTER_LENGTH or cost_center not in ctx.cost_centers()):
            errors.add(
                p + "cost_center", f"Unknown cost center '{cost_center[:64]}' for this tenant.", "unknown_cost_center"
            )
            ok = False
        props = ev.get("properties")
        if props is None:
            props_json = "{}"
        elif not isinstance(props, dict):
            errors.add(p + "properties", "Properties must be a JSON object.", "invalid")
            ok = False
        else:
            props_json = orjson.dumps(props).decode()
            if len(props_json.encode()) > MAX_PROPERTIES_BYTES:
                errors.add(
                    p + "properties", f"Properties are at most {MAX_PROPERTIES_BYTES} bytes serialized.", "too_large"
                )
                ok = False
            elif "\x00" in props_json or "\\u0000" in props_json:
                errors.add(p + "properties", "Properties may not contain NUL characters.", "invalid")
                ok = False
        for name, text in (("event_id", event_id), ("resource_id", resource_id), ("cost_center", cost_center)):
            if ok and isinstance(text, str) and "\x00" in text:
                errors.add(p + name, "NUL characters are not allowed.", "invalid")
                ok = False
        if ok:
            rows.append((event_id, metric, quantity, ts, resource_id, cost_center, props_json))
    return rows


_COLUMNS = "event_id, metric_id, quantity, ts, resource_id, cost_center, properties"
_STAGE = "usage_ingest_stage"


def _ingest_sql(source: str, returning_events: bool) -> str:
    """Return the one statement that stores new events from `source` and folds them into the rollups."""
    ev, roll, hourly, metric = (
        UsageEvent._meta.db_table,
        UsageRollup._meta.db_table,
        UsageHourly._meta.db_table,
        Metric._meta.db_table,
    )
    tail = 'SELECT metric_id, "timestamp" FROM ins' if returning_events else "SELECT count(*) FROM ins"
    return f"""
    WITH ins AS (
        INSERT INTO {ev} AS e (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id, cost_center,
                               properties, received_at, unique_key)
        SELECT %(t)s, s.event_id, s.metric_id, s.quantity, s.ts, s.resource_id, s.cost_center, s.properties,
               %(now)s, CASE WHEN m.aggregation = 'unique_count' THEN md5(s.properties ->> m.field) END
        FROM {source} JOIN {metric} m ON m.code = s.metric_id
        ORDER BY s.event_id
        ON CONFLICT (tenant_id, event_id) DO NOTHING
        RETURNING e.metric_id, e.quantity, e."timestamp", e.resource_id, e.cost_center
    ), roll AS (
        INSERT INTO {roll} AS r (tenant_id, metric_id, hour, resource_id, cost_center,
                                 quantity_sum, quantity_max, event_count)
        SELECT %(t)s, metric_id, date_trunc('hour', "timestamp", 'UTC'), resource_id, cost_center,
               sum(quantity), max(quantity), count(*)
        FROM ins GROUP BY 2, 3, 4, 5 ORDER BY 2, 3, 4, 5
        ON CONFLICT (tenant_id, metric_id, hour, resource_id, cost_center) DO UPDATE SET
            quantity_sum = r.quantity_sum + EXCLUDED.quantity_sum,
            quantity_max = GREATEST(r.quantity_max, EXCLUDED.quantity_max),
            event_count = r.event_count + EXCLUDED.event_count
    ), hourly AS (
        INSERT INTO {hourly} AS h (tenant_id, metric_id, hour, quantity_sum, quantity_max, event_count)
        SELECT %(t)s, metric_id, date_trunc('hour', "timestamp", 'UTC'), sum(quantity), max(quantity), count(*)
        FROM ins GROUP BY 2, 3 ORDER BY 2, 3
        ON CONFLICT (tenant_id, metric_id, hour) DO UPDATE SET
            quantity_sum = h.quantity_sum + EXCLUDED.quantity_sum,
            quantity_max = GREATEST(h.quantity_max, EXCLUDED.quantity_max),
            event_count = h.event_count + EXCLUDED.event_count
    )
    {tail}
    """


_SINGLE_SOURCE = (
    "(VALUES (%(event_id)s::text, %(metric_id)s::text, %(quantity)s::numeric, %(ts)s::timestamptz, "
    "%(resource_id)s::text, %(cost_center)s::text, %(properties)s::jsonb)) AS s(" + _COLUMNS + ")"
)


def _write(cur, tenant_id: str, rows: list[tuple], now: datetime, returning_events: bool, use_copy: bool):
    """Store `rows`; return the inserted (metric, timestamp) pairs or their count."""
    params = {"t": tenant_id, "now": now}
    if use_copy:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (event_id text, metric_id text, quantity numeric, "
            "ts timestamptz, resource_id text, cost_center text, properties jsonb) ON COMMIT DELETE ROWS"
        )
        # Empty after every commit (ON COMMIT DELETE ROWS); a second ingest inside one outer
        # transaction must not see the first one's rows, hence the (usually no-op) DELETE.
        cur.execute(f"DELETE FROM {_STAGE}")
        with cur.copy(f"COPY {_STAGE} ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(_ingest_sql(f"{_STAGE} s", returning_events), params)
    else:
        event_id, metric, quantity, ts, resource_id, cost_center, props = rows[0]
        params.update(
            event_id=event_id,
            metric_id=metric,
            quantity=quantity,
            ts=ts,
            resource_id=resource_id,
            cost_center=cost_center,
            properties=props,
        )
        cur.execute(_ingest_sql(_SINGLE_SOURCE, returning_events), params)
    return cur.fetchall() if returning_events else cur.fetchone()[0]


def _schedule_after_commit(tenant_id: str, *, has_alerts: bool) -> None:
    from billing.signals import usage_recorded
    from realtime.services.alerts import alerts_schedule_evaluation

    def fire():
        # The context query already told whether the tenant has alerts: most tenants skip a round trip.
        if has_alerts:
            alerts_schedule_evaluation(tenant_id=tenant_id)
        usage_recorded.send(sender=None, tenant_id=tenant_id)

    transaction.on_commit(fire)


def _ingest_once(tenant_id: str, events: list, now: datetime, index_attrs: bool, prefix: str) -> IngestResult:
    connection.ensure_connection()
    # A server-binding cursor (not Django's client-side one) lets psycopg prepare these few fixed
    # statements after their first executions, so the hot path skips parsing and planning.
    with psycopg.Cursor(connection.connection) as cur:
        ctx = _load_context(cur, tenant_id)
        errors = _Errors(prefix)
        rows = _clean_events(ctx, events, now, errors, index_attrs)
        errors.raise_if_any()
        seen: set[str] = set()
        unique_rows = []
        for row in rows:
            if row[0] not in seen:
                seen.add(row[0])
                unique_rows.append(row)
        try:
            inserted = _write(
                cur,
                tenant_id,
                unique_rows,
                now,
                ctx.has_hard_quota,
                use_copy=not (len(events) == 1 and not index_attrs),
            )
        except psycopg.errors.NumericValueOutOfRange:
            raise exceptions.ValidationError(
                {
                    (prefix.rstrip(".") or "quantity"): [
                        exceptions.ErrorDetail(
                            "These quantities would overflow the hourly totals.", code="quantity_overflow"
                        )
                    ]
                }
            ) from None
    if ctx.has_hard_quota:
        from quotas.services.enforce import quotas_enforce_hard

        touched: dict[str, list[datetime]] = {}
        for metric, ts in inserted:
            touched.setdefault(metric, []).append(ts)
        if touched:
            quotas_enforce_hard(tenant_id=tenant_id, touched=touched, now=now)
        accepted = len(inserted)
    else:
        accepted = int(inserted)
    if accepted:
        _schedule_after_commit(tenant_id, has_alerts=ctx.has_alerts)
    return IngestResult(accepted=accepted, duplicates=len(events) - accepted)


def _is_retryable(exc: BaseException) -> bool:
    """Return whether `exc` (raw psycopg or Django-wrapped) is a deadlock or serialization failure."""
    return isinstance(exc, RETRYABLE) or isinstance(exc.__cause__, RETRYABLE)


@observe_ingest
def usage_ingest(*, tenant_id: str, events: list, now: datetime | None = None, batch: bool = True) -> IngestResult:
    """Return how many of `events` (parsed JSON objects) were new and how many were duplicates.

    All or nothing: any invalid event raises one 400 naming each problem ("events.3.metric" for a
    batch, "metric" for a single event); a hard quota raises 429. Retries the whole transaction on
    deadlock or serialization failure.
    """
    validate_tenant_id(tenant_id)
    if batch and not 1 <= len(events) <= MAX_BATCH:
        raise exceptions.ValidationError(
            {"events": [exceptions.ErrorDetail(f"A batch holds 1 to {MAX_BATCH} events.", code="invalid_batch_size")]}
        )
    now = now or timezone.now()
    prefix = "events." if batch else ""
    for attempt in range(MAX_ATTEMPTS):
        try:
            with transaction.atomic():
                return _ingest_once(tenant_id, events, now, batch, prefix)
        except (psycopg.Error, DatabaseError) as exc:
            if attempt == MAX_ATTEMPTS - 1 or not _is_retryable(exc):
                raise
            time.sleep(0.005 * (2**attempt))
    raise AssertionError("unreachable")


def usage_record(*, tenant_id: str, event: dict, now: datetime | None = None) -> bool:
    """Return True when `event` was stored, False when its event_id was already known (a duplicate)."""
    return usage_ingest(tenant_id=tenant_id, events=[event], now=now, batch=False).accepted == 1
