"""Usage ingestion: validate events with plain code, store each exactly once, keep rollups in step.

This is the one writer of `UsageEvent`, `UsageEventKey`, `UsageRollup`, `UsageHourly` and
`UsageDailyDistinct` (and of `unique_key`), through `billing.services.usage_dims` of the rollups per
priced dimension, and through `billing.services.usage_levels` of the level rollup (`UsageLevel`);
`usage_partitions.py` only creates partitions and moves rows between them.
Everything a request needs from the database (tenant row, catalog, closed periods, whether any hard
quota exists) comes back in one round trip; events are validated in Python against that snapshot
(no serializer or ORM object per event); then one statement with data-modifying CTEs inserts the
new events' keys into `UsageEventKey` (`ON CONFLICT (tenant_id, event_id) DO NOTHING`: its primary
key, not a prior read, decides what is a duplicate), exactly those events into the monthly-partitioned
events table, and folds exactly those rows into both rollup tables and, for `unique_count` metrics, their
(day, unique_key) pairs into the per-day distinct table. A batch reaches
that statement through `COPY` into a per-connection TEMP staging table. Before that, a batch in
the plain forms (`usage_validation.plain_batch`) is offered to one statement that reads and checks
its JSON body itself (`usage_sql.batch_sql`, run by `_ingest_raw`); it writes nothing unless every
event passes, and the path above names each problem.

Rollup rows are striped by connection (`shard`, see `_connection_shard`): concurrent requests for
one tenant and metric do not wait for each other's commit. They are upserted in key order so two
concurrent batches sharing a stripe lock them in the same order; a
deadlock or serialization failure still retries the whole transaction, which is safe because it is
all-or-nothing.
"""

from __future__ import annotations

import functools
import time
import weakref
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter

import psycopg
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework import exceptions

from billing.models import (
    Invoice,
    Metric,
    Tenant,
)
from billing.models.usage import ROLLUP_SHARDS
from billing.models.usage_levels import LEVEL_AGGREGATIONS
from billing.services.usage_levels import level_rollup_lock
from billing.services.usage_sql import (
    BATCH_PARAMS,
    COLUMNS,
    FINALIZED,
    SINGLE_VALUES,
    batch_sql,
    ingest_sql,
    single_shape,
    single_sql,
)
from billing.services.usage_validation import (
    MAX_FUTURE,
    EventContext,
    EventErrors,
    clean_events,
    plain_batch,
    validate_tenant_id,
)
from billing.signals import usage_recorded
from billing_project.observability.metrics import observe_ingest
from billing_project.parsers import MAX_JSON_DEPTH, JsonTooDeep, json_depth_exceeds

MAX_BATCH = 1000
MAX_ATTEMPTS = 5
RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@dataclass
class IngestResult:
    """What one ingest call stored: `accepted` new events and `duplicates` skipped."""

    accepted: int
    duplicates: int


# The catalog as `_Catalog.saw_catalog` takes it: one row of arrays (code, aggregation, field, has dimension keys).
_CATALOG_SQL = (
    "SELECT array_agg(code), array_agg(aggregation), array_agg(field), "
    f"array_agg(dimension_keys <> '[]'::jsonb) FROM {Metric._meta.db_table}"
)


def _load_context(cur, tenant_id: str, now: datetime) -> EventContext:
    """Return the request's context, creating the Tenant row on first use, in one round trip."""
    from quotas.selectors.quotas import quota_exists_sql, quota_hard_exists_sql
    from realtime.selectors.alerts import alert_exists_sql

    cur.execute(
        f"""
        WITH t AS (
            INSERT INTO {Tenant._meta.db_table} (id, name, email, address, tax_rate, stripe_customer_id, created_at)
            VALUES (%(t)s, '', '', '', 0, '', now()) ON CONFLICT (id) DO NOTHING
        )
        SELECT
            c.*,
            (SELECT array_agg(period_start) FROM {Invoice._meta.db_table}
              WHERE tenant_id = %(t)s AND status = ANY(%(fin)s)),
            (SELECT array_agg(period_end) FROM {Invoice._meta.db_table}
              WHERE tenant_id = %(t)s AND status = ANY(%(fin)s)),
            {quota_hard_exists_sql(tenant_param="%(t)s")},
            {alert_exists_sql(tenant_param="%(t)s")},
            {quota_exists_sql(tenant_param="%(t)s")}
        FROM ({_CATALOG_SQL}) c
        """,
        {"t": tenant_id, "fin": list(FINALIZED)},
        prepare=True,
    )
    codes, aggs, fields, dims, starts, ends, hard, alerts, any_quota = cur.fetchone()
    metrics = _Catalog.saw_catalog(codes, aggs, fields, dims)
    _Catalog.saw_quota(tenant_id, bool(any_quota))
    closed = list(zip(starts or [], ends or [], strict=False))
    return EventContext(
        metrics=metrics,
        closed=closed,
        has_hard_quota=bool(hard),
        has_alerts=bool(alerts),
        tenant_id=tenant_id,
        now=now,
        has_quota=bool(any_quota),
    )


# Advisory-lock class of the rollup stripes: a connection holds (class, its stripe) for its session.
SHARD_LOCK_CLASS = 0x5553
_SHARD_SQL = (
    f"SELECT coalesce((SELECT s FROM generate_series(0, {ROLLUP_SHARDS - 1}) s "
    f"WHERE pg_try_advisory_lock({SHARD_LOCK_CLASS}, s) LIMIT 1), pg_backend_pid() % {ROLLUP_SHARDS})"
)
_shards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _connection_shard(cur) -> int:
    """Return the rollup stripe this connection writes (see billing.models.usage).

    On a connection's first ingest it takes the lowest stripe no other live connection holds (a
    session-level advisory lock, released when the connection closes), so concurrent writers of one
    key never share a row and a key has at most as many rows as connections ever ran at once.
    Beyond ROLLUP_SHARDS connections, stripes are shared (by backend pid).
    """
    shard = _shards.get(cur.connection)
    if shard is None:
        shard = _shards[cur.connection] = cur.execute(_SHARD_SQL).fetchone()[0]
    return shard


_STAGE = "usage_ingest_stage"
_STAGE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (event_id text, metric_id text, quantity numeric, "
    f"ts timestamptz, resource_id text, cost_center text, properties jsonb) ON COMMIT DELETE ROWS; DELETE FROM {_STAGE}"
)
_SINGLE_SOURCE = SINGLE_VALUES + " AS s(" + COLUMNS + ")"


class _Catalog:
    """What this process last saw of the catalog and of which tenants have quotas.

    The single-event path checks a metric code against `metrics` (refreshed by every context
    query) without a query; its statement checks the table again, and an unseen code takes the
    path that reads the catalog. `shapes` picks the single statement's shape per code (its
    statement checks the shape too). A tenant in `quota_tenants` goes straight to the transactional
    path (a stale entry only costs that path; a new quota is seen by the statement).
    """

    metrics: dict[str, tuple[str, str]] = {}
    shapes: dict[str, str] = {}
    quota_tenants: set[str] = set()

    @classmethod
    def saw_catalog(cls, codes, aggregations, fields, has_dimensions) -> dict[str, tuple[str, str]]:
        """Remember the catalog's metrics (columns as arrays, None for none); return {code: (aggregation, field)}."""
        rows = list(zip(codes or [], aggregations or [], fields or [], has_dimensions or [], strict=False))
        cls.shapes = {code: single_shape(aggregation, dims) for code, aggregation, _, dims in rows}
        cls.metrics = metrics = {code: (aggregation, field) for code, aggregation, field, _ in rows}
        return metrics

    @classmethod
    def batch_shape(cls, cur, codes: set[str]) -> str:
        """Return the widest shape of the metrics `codes` (the catalog read once when one is new to
        this process; "full" for a code still unknown, which the statement then refuses)."""
        if not codes <= cls.shapes.keys():
            cls.saw_catalog(*cur.execute(_CATALOG_SQL).fetchone())
        shapes = {cls.shapes.get(code, "full") for code in codes}
        return next(shape for shape in ("full", "unique", "plain") if shape in shapes)

    @classmethod
    def saw_quota(cls, tenant_id: str, has_quota: bool) -> None:
        if not has_quota:
            cls.quota_tenants.discard(tenant_id)
            return
        if len(cls.quota_tenants) >= 10_000:
            cls.quota_tenants.clear()
        cls.quota_tenants.add(tenant_id)


def _write(
    cur,
    tenant_id: str,
    rows: list[tuple],
    now: datetime,
    returning_events: bool,
    use_copy: bool,
    levels: list[str],
    fresh: bool = False,
):
    """Store `rows`; return the inserted (metric, timestamp) pairs or their count.

    `levels` are the batch's `latest` / `weighted_sum` metrics, whose rollup is refolded too;
    `fresh`: a batch's first attempt, which fails on a key already stored (see `usage_sql.ingest_sql`).
    """
    params = {"t": tenant_id, "now": now, "shard": _connection_shard(cur)}
    if levels:
        level_rollup_lock(cur, tenant_id, levels)
    if use_copy:
        # One round trip (two statements, simple protocol). Empty after every commit (ON COMMIT
        # DELETE ROWS); a second ingest inside one outer transaction must not see the first one's
        # rows, hence the (usually no-op) DELETE.
        cur.execute(_STAGE_SQL)
        with cur.copy(f"COPY {_STAGE} ({COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(ingest_sql(f"{_STAGE} s", returning_events, bool(levels), fresh=fresh), params, prepare=True)
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
        cur.execute(ingest_sql(_SINGLE_SOURCE, returning_events, bool(levels)), params, prepare=True)
    return cur.fetchall() if returning_events else cur.fetchone()[0]


def _after_commit(tenant_id: str, has_alerts: bool) -> None:
    # The context query (or the single statement) already told whether the tenant has alerts: most
    # tenants skip a round trip.
    if has_alerts:
        from realtime.services.alerts import alerts_schedule_evaluation

        alerts_schedule_evaluation(tenant_id=tenant_id)
    usage_recorded.send(sender=None, tenant_id=tenant_id)


def _schedule_after_commit(tenant_id: str, *, has_alerts: bool) -> None:
    """Announce the new usage once it is committed (at once outside an atomic block, as on_commit would)."""
    if connection.in_atomic_block:
        transaction.on_commit(functools.partial(_after_commit, tenant_id, has_alerts))
    else:
        _after_commit(tenant_id, has_alerts)


def _overflow(prefix: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        {
            (prefix.rstrip(".") or "quantity"): [
                exceptions.ErrorDetail("These quantities would overflow the hourly totals.", code="quantity_overflow")
            ]
        }
    )


def _single_cursor() -> psycopg.Cursor:
    """Return this thread's server-binding cursor for the single statement, one per connection.

    Django's connection is per thread, and a cursor is reused only on the connection it was made
    for (a reconnect gets a new one): no cursor set-up per event.
    """
    connection.ensure_connection()
    raw = connection.connection
    cur = getattr(raw, "_usage_single_cursor", None)
    if cur is None:
        cur = psycopg.Cursor(raw)
        setattr(raw, "_usage_single_cursor", cur)  # noqa: B010 (psycopg's Connection declares no such attribute)
    return cur


def _ingest_single(tenant_id: str, event, now: datetime) -> IngestResult | None:
    """Store one event in one statement (its own transaction outside atomic blocks); None: not decided.

    Taken when the event passes the Python checks against the known catalog, its metric is not a
    level (`latest` / `weighted_sum`) and the tenant has no quota (whose enforcement and notices need
    the transactional path); the statement writes nothing otherwise, and `usage_ingest` goes on
    with the path that reports every problem.
    """
    code = event.get("metric") if isinstance(event, dict) else None
    if not isinstance(code, str) or code not in _Catalog.metrics or tenant_id in _Catalog.quota_tenants:
        return None
    if _Catalog.metrics[code][0] in LEVEL_AGGREGATIONS:
        return None  # the level rollup's refold takes a per-metric lock in the transactional path
    ctx = EventContext(
        metrics=_Catalog.metrics, closed=[], has_hard_quota=False, has_alerts=False, tenant_id=tenant_id, now=now
    )
    errors = EventErrors("")
    rows = clean_events(ctx, [event], errors, False)
    if errors.items:
        return None
    event_id, metric, quantity, ts, resource_id, cost_center, props = rows[0]
    params: dict[str, object] = {
        "t": tenant_id,
        "now": now,
        "event_id": event_id,
        "metric_id": metric,
        "quantity": quantity,
        "ts": ts,
        "resource_id": resource_id,
        "cost_center": cost_center,
        "properties": props,
    }
    cur = _single_cursor()
    params["shard"] = _connection_shard(cur)
    try:
        cur.execute(single_sql(_Catalog.shapes.get(metric, "full")), params, prepare=True)
    except psycopg.errors.NumericValueOutOfRange:
        raise _overflow("") from None
    taken, has_quota, has_alerts, inserted = cur.fetchone()
    if not taken:
        _Catalog.saw_quota(tenant_id, has_quota)
        return None
    if inserted:
        _schedule_after_commit(tenant_id, has_alerts=has_alerts)
    return IngestResult(accepted=inserted, duplicates=1 - inserted)


def _ingest_once(
    tenant_id: str, events: list, now: datetime, index_attrs: bool, prefix: str, fresh: bool = False
) -> IngestResult:
    connection.ensure_connection()
    # A server-binding cursor (not Django's client-side one) and `prepare=True` (Django turns
    # psycopg's automatic preparation off): these few fixed statements are parsed once per
    # connection, and planned once PostgreSQL settles on their generic plan.
    with psycopg.Cursor(connection.connection) as cur:
        ctx = _load_context(cur, tenant_id, now)
        errors = EventErrors(prefix)
        rows = clean_events(ctx, events, errors, index_attrs)
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
                ctx.has_quota,
                use_copy=not (len(events) == 1 and not index_attrs),
                levels=sorted({row[1] for row in unique_rows if ctx.metrics[row[1]][0] in LEVEL_AGGREGATIONS}),
                fresh=fresh,
            )
        except psycopg.errors.NumericValueOutOfRange:
            raise _overflow(prefix) from None
    if ctx.has_quota:
        from quotas.services.enforce import quotas_enforce_hard
        from quotas.services.notify import quotas_record_crossings

        touched: dict[str, list[datetime]] = {}
        for metric, ts in inserted:
            touched.setdefault(metric, []).append(ts)
        if touched and ctx.has_hard_quota:
            quotas_enforce_hard(tenant_id=tenant_id, touched=touched, now=now)
        if touched:
            quotas_record_crossings(tenant_id=tenant_id, metrics=set(touched), now=now)
        accepted = len(inserted)
    else:
        accepted = int(inserted)
    if accepted:
        _schedule_after_commit(tenant_id, has_alerts=ctx.has_alerts)
    return IngestResult(accepted=accepted, duplicates=len(events) - accepted)


def _ingest_raw(tenant_id: str, body: bytes, events: list, now: datetime, fresh: bool) -> IngestResult | None:
    """Store a batch from its JSON `body` (`events` parsed) in one statement; None: not taken (nothing written).

    The statement validates the events itself (`usage_sql.batch_sql`): no Python object per event, no
    staging COPY. It takes a batch only when every event is in the plain forms it checks and the
    tenant has no quota; anything else goes through the Python checks, which name each problem.
    """
    connection.ensure_connection()
    with psycopg.RawCursor(connection.connection) as cur:  # the statement has PostgreSQL's own placeholders
        repeats = len(set(map(itemgetter("event_id"), events))) < len(events)
        shape = _Catalog.batch_shape(cur, set(map(itemgetter("metric"), events)))
        params = {
            "t": tenant_id,
            "now": now,
            "latest": now + MAX_FUTURE,
            "shard": _connection_shard(cur),
            "body": body.decode(),
            "n": len(events),
        }
        taken, has_quota, has_alerts, inserted = cur.execute(
            batch_sql(fresh, repeats, shape), [params[name] for name in BATCH_PARAMS], prepare=True
        ).fetchone()
    if not taken:
        _Catalog.saw_quota(tenant_id, has_quota)
        return None
    if inserted:
        _schedule_after_commit(tenant_id, has_alerts=has_alerts)
    return IngestResult(accepted=inserted, duplicates=len(events) - inserted)


def _check_depth(events: list) -> None:
    """Raise 400 `json_too_deep` when `events` (a body's, not checked by the parser) nest too deep."""
    if json_depth_exceeds(events, MAX_JSON_DEPTH - 1):
        raise JsonTooDeep()


def _leave_statement(events: list) -> tuple[bool, bool]:
    """Return (raw, fresh) for the Python path after the batch statement did not take `events`."""
    _check_depth(events)
    return False, True


def _caused_by(exc: BaseException, kinds) -> bool:
    """Return whether `exc` (raw psycopg or Django-wrapped) is one of `kinds`."""
    return isinstance(exc, kinds) or isinstance(exc.__cause__, kinds)


@observe_ingest
def usage_ingest(
    *, tenant_id: str, events: list, now: datetime | None = None, batch: bool = True, body: bytes | None = None
) -> IngestResult:
    """Return how many of `events` (parsed JSON objects) were new and how many were duplicates.

    All or nothing: any invalid event raises one 400 naming each problem ("events.3.metric" for a
    batch, "metric" for a single event); a hard quota raises 429. Retries the whole transaction on
    deadlock or serialization failure. A batch first tries without looking for duplicates (`fresh`,
    see `usage_sql.ingest_sql`); a key already stored sends it through once more, skipping them.
    `body`: the batch's request body, exactly `{"events": events}` as sent and not yet checked for
    depth; the statement of `_ingest_raw` tries it first.
    """
    validate_tenant_id(tenant_id)
    if batch and not 1 <= len(events) <= MAX_BATCH:
        raise exceptions.ValidationError(
            {"events": [exceptions.ErrorDetail(f"A batch holds 1 to {MAX_BATCH} events.", code="invalid_batch_size")]}
        )
    now = now or timezone.now()
    prefix = "events." if batch else ""
    single = not batch and len(events) == 1
    fresh = batch
    raw = (
        batch
        and body is not None
        and tenant_id not in _Catalog.quota_tenants
        and b"\\u0000" not in body
        and plain_batch(events)
    )
    if body is not None and not raw:
        _check_depth(events)
    for attempt in range(MAX_ATTEMPTS + 2):
        try:
            if raw:
                # Outside an atomic block the one statement is its own (durable) transaction.
                with transaction.atomic() if connection.in_atomic_block else nullcontext():
                    result = _ingest_raw(tenant_id, body, events, now, fresh)  # type: ignore[arg-type]
                if result is not None:
                    return result
                raw, fresh = _leave_statement(events)
            if single:
                # Outside an atomic block the one statement is its own (durable) transaction:
                # no BEGIN, context query or COMMIT round trips. Inside one, a savepoint.
                with transaction.atomic() if connection.in_atomic_block else nullcontext():
                    result = _ingest_single(tenant_id, events[0], now)
                if result is not None:
                    return result
                single = False
            with transaction.atomic():
                return _ingest_once(tenant_id, events, now, batch, prefix, fresh=fresh)
        except (psycopg.Error, DatabaseError) as exc:
            if fresh and _caused_by(exc, psycopg.errors.UniqueViolation):
                fresh = False  # a re-sent (or concurrently sent) event: this time the duplicates are skipped
                continue
            if raw and _caused_by(exc, psycopg.errors.DataError):
                raw, fresh = _leave_statement(events)  # e.g. a date that does not exist: the Python checks name it
                continue
            if attempt >= MAX_ATTEMPTS - 1 or not _caused_by(exc, RETRYABLE):
                raise
            time.sleep(0.005 * (2**attempt))
    raise AssertionError("unreachable")


def usage_record(*, tenant_id: str, event: dict, now: datetime | None = None) -> bool:
    """Return True when `event` was stored, False when its event_id was already known (a duplicate)."""
    return usage_ingest(tenant_id=tenant_id, events=[event], now=now, batch=False).accepted == 1
