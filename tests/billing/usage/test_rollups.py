"""Rollups (and the per-day distinct table) always equal a recomputation from raw events; concurrent
re-sends lose and double nothing."""

import random
import threading
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from billing.models import UsageEvent, UsageHourly

from .conftest import BASE, at, rows_by


@pytest.fixture
def cost_centers(tenant):
    from costcenters.models import CostCenter

    for code in ("eng", "ops"):
        CostCenter.objects.create(tenant=tenant, code=code, name=code)


def recompute_and_compare(tenant_id: str) -> int:
    """Assert both rollup tables (folded over their stripes) equal a GROUP BY over raw events.

    Return the number of raw events.
    """
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT metric_id, date_trunc('hour', "timestamp", 'UTC'), resource_id, cost_center,
                   sum(quantity), max(quantity), count(*)
            FROM billing_usageevent WHERE tenant_id = %s GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            """,
            [tenant_id],
        )
        raw = cur.fetchall()
        cur.execute(
            "SELECT metric_id, hour, resource_id, cost_center, sum(quantity_sum), max(quantity_max), "
            "sum(event_count)::int FROM billing_usagerollup WHERE tenant_id = %s "
            "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            [tenant_id],
        )
        assert cur.fetchall() == raw
        cur.execute(
            """
            SELECT metric_id, date_trunc('hour', "timestamp", 'UTC'), sum(quantity), max(quantity), count(*)
            FROM billing_usageevent WHERE tenant_id = %s GROUP BY 1, 2 ORDER BY 1, 2
            """,
            [tenant_id],
        )
        raw_hourly = cur.fetchall()
        cur.execute(
            "SELECT metric_id, hour, sum(quantity_sum), max(quantity_max), sum(event_count)::int "
            "FROM billing_usagehourly WHERE tenant_id = %s GROUP BY 1, 2 ORDER BY 1, 2",
            [tenant_id],
        )
        assert cur.fetchall() == raw_hourly
        cur.execute(
            "SELECT count(*) FROM billing_usageevent WHERE tenant_id = %s AND metric_id = 'active_users' "
            "AND unique_key IS DISTINCT FROM md5(properties ->> 'user_id')",
            [tenant_id],
        )
        assert cur.fetchone()[0] == 0
        cur.execute(
            "SELECT DISTINCT metric_id, (\"timestamp\" AT TIME ZONE 'UTC')::date, unique_key FROM billing_usageevent "
            "WHERE tenant_id = %s AND unique_key IS NOT NULL ORDER BY 1, 2, 3",
            [tenant_id],
        )
        raw_distinct = cur.fetchall()
        cur.execute(
            "SELECT metric_id, day, unique_key FROM billing_usagedailydistinct WHERE tenant_id = %s ORDER BY 1, 2, 3",
            [tenant_id],
        )
        assert cur.fetchall() == raw_distinct
    return sum(r[-1] for r in raw)


def random_events(rng, month_start, n, prefix="e", id_space=None):
    metrics = ["api_calls", "storage_gb", "jobs", "active_users"]
    out = []
    for i in range(n):
        eid = f"{prefix}{rng.randrange(id_space) if id_space else i}"
        ev = {
            "event_id": eid,
            "metric": rng.choice(metrics),
            "quantity": str(Decimal(rng.randrange(0, 10**6)) / Decimal(10 ** rng.randrange(0, 13))),
            "timestamp": at(month_start, minutes=rng.randrange(0, 60 * 24 * 3), seconds=rng.randrange(60)),
            "properties": {"user_id": f"u{rng.randrange(40)}"},
        }
        if rng.random() < 0.6:
            ev["resource_id"] = f"r{rng.randrange(5)}"
        if rng.random() < 0.3:
            ev["cost_center"] = rng.choice(["eng", "ops"])
        out.append(ev)
    return out


def expected_summary(events, lo, hi):
    """Return {metric: (quantity, events)} computed directly from the first occurrence of each event."""
    from billing_project.fields import parse_instant

    first = {}
    for ev in events:
        first.setdefault(ev["event_id"], ev)
    agg = {}
    for ev in first.values():
        ts = parse_instant(ev["timestamp"])
        if not (lo <= ts < hi):
            continue
        agg.setdefault(ev["metric"], []).append((Decimal(ev["quantity"]), ev["properties"]["user_id"]))
    out = {}
    for metric, items in agg.items():
        qs = [q for q, _ in items]
        out[metric] = (
            {
                "api_calls": sum(qs, Decimal(0)),
                "storage_gb": max(qs),
                "jobs": Decimal(len(qs)),
                "active_users": Decimal(len({u for _, u in items})),
            }[metric],
            len(items),
        )
    return out


@pytest.mark.django_db
def test_rollups_equal_raw_recomputation_and_summary_matches(catalog, cost_centers, post_batch, summary, month_start):
    from billing_project.fields import plain_decimal

    rng = random.Random(7)
    sent = []
    for _ in range(6):
        batch = random_events(rng, month_start, 400, id_space=1500)
        sent += batch
        r = post_batch("acme", batch)
        assert r.status_code == 200, r.content
    stored = recompute_and_compare("acme")
    assert stored == len({e["event_id"] for e in sent}) == UsageEvent.objects.filter(tenant_id="acme").count()
    lo, hi = (
        month_start + timedelta(hours=7, minutes=13, seconds=5),
        month_start + timedelta(days=2, hours=3, minutes=41),
    )
    want = expected_summary(sent, lo, hi)
    rows = rows_by(summary("acme", **{"from": lo.isoformat(), "to": hi.isoformat()}))
    for metric, (quantity, n) in want.items():
        assert rows[metric]["quantity"] == plain_decimal(quantity), metric
        assert rows[metric]["events"] == n
    # every group_by adds up to the same event count
    for group_by in ("day", "hour", "resource", "cost_center"):
        res = summary("acme", group_by=group_by, **{"from": lo.isoformat(), "to": hi.isoformat()}).json()["results"]
        assert sum(x["events"] for x in res) == sum(n for _, n in want.values()), group_by
        sums = sum(Decimal(x["quantity"]) for x in res if x["metric"] == "api_calls")
        assert sums == want["api_calls"][0], group_by


def _fire_concurrently(bodies, tenant_id="acme"):
    """POST each body from its own thread at the same instant; return the answers."""
    from tests.conftest import make_client

    barrier = threading.Barrier(len(bodies))
    answers = [None] * len(bodies)

    def worker(i, body):
        client = make_client("service", sub=f"svc-{i}")
        try:
            barrier.wait()
            r = client.post(f"{BASE}/{tenant_id}/usage/batch", {"events": body}, format="json")
            answers[i] = (r.status_code, r.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, b)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_of_one_batch_store_each_event_once(catalog, cost_centers, summary, month_start):
    rng = random.Random(3)
    batch = random_events(rng, month_start, 500)
    answers = _fire_concurrently([batch] * 6)
    assert all(status == 200 for status, _ in answers), answers
    assert sum(a["accepted"] for _, a in answers) == 500
    assert sum(a["duplicates"] for _, a in answers) == 5 * 500
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 500
    assert recompute_and_compare("acme") == 500
    want = expected_summary(batch, month_start, month_start + timedelta(days=3))
    rows = rows_by(
        summary("acme", **{"from": month_start.isoformat(), "to": (month_start + timedelta(days=3)).isoformat()})
    )
    from billing_project.fields import plain_decimal

    for metric, (quantity, n) in want.items():
        assert (rows[metric]["quantity"], rows[metric]["events"]) == (plain_decimal(quantity), n)


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_in_any_order(catalog, cost_centers, month_start):
    rng = random.Random(11)
    pool = random_events(rng, month_start, 900)
    bodies = []
    for _ in range(5):
        part = rng.sample(pool, 600)
        rng.shuffle(part)
        bodies.append(part)
    answers = _fire_concurrently(bodies)
    assert all(status == 200 for status, _ in answers), answers
    distinct = {e["event_id"] for b in bodies for e in b}
    assert sum(a["accepted"] for _, a in answers) == len(distinct)
    assert sum(a["accepted"] + a["duplicates"] for _, a in answers) == 5 * 600
    assert recompute_and_compare("acme") == len(distinct)


@pytest.mark.django_db(transaction=True)
def test_writers_of_one_hot_key_do_not_wait_for_each_others_commit(catalog, tenant, month_start):
    """An open transaction holding its (tenant, metric, hour) rollup rows does not block another writer.

    Before the stripes, the second writer waited on the first one's row locks until its commit.
    """
    from django.db import transaction

    from billing.services.usage import usage_record

    ts = at(month_start, minutes=5)
    first_wrote, release, errors = threading.Event(), threading.Event(), []

    def holder():
        try:
            with transaction.atomic():
                usage_record(tenant_id="acme", event={"event_id": "h1", "metric": "api_calls", "timestamp": ts})
                first_wrote.set()
                release.wait(30)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            first_wrote.set()
            connection.close()

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert first_wrote.wait(30) and not errors, errors
        with connection.cursor() as cur:
            cur.execute("SET lock_timeout = '3s'")  # waiting on the holder's rows would fail here
            assert usage_record(tenant_id="acme", event={"event_id": "h2", "metric": "api_calls", "timestamp": ts})
            cur.execute("RESET lock_timeout")
    finally:
        release.set()
        t.join(30)
    assert not errors, errors
    assert recompute_and_compare("acme") == 2
    rows = UsageHourly.objects.filter(tenant_id="acme", metric_id="api_calls").values_list("shard", "event_count")
    assert sorted(n for _, n in rows) == [1, 1] and len({shard for shard, _ in rows}) == 2  # folded by every reader


@pytest.mark.django_db(transaction=True)
def test_a_connection_keeps_its_stripe_and_live_connections_never_share_one():
    from billing.services.usage import SHARD_LOCK_CLASS, _connection_shard

    with connection.cursor():
        pass
    with psycopg.Cursor(connection.connection) as cur:
        mine = _connection_shard(cur)
        assert _connection_shard(cur) == mine
        held = cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
            "AND pid = pg_backend_pid()",
            [SHARD_LOCK_CLASS, mine],
        ).fetchone()[0]
    assert held == 1
    others = []
    for _ in range(3):
        params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
        conn = psycopg.connect(**params)
        others.append(conn)
        with conn.cursor() as cur:
            others_shard = _connection_shard(cur)
        assert others_shard != mine
    assert len({_connection_shard(c.cursor()) for c in others}) == 3
    for c in others:
        c.close()


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_the_rollups_utc_hour_is_date_trunc_in_utc_for_every_instant(zone):
    """The ingest's `hour` (UTC_HOUR_SQL, arithmetic on the instant) equals date_trunc('hour', ts, 'UTC'):
    at and around every hour boundary, at random instants of the accepted range, whatever the session's
    time zone (half-hour and odd offsets included)."""
    from billing.models.usage import UTC_HOUR_SQL

    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL TimeZone = '{zone}'")
        cur.execute(
            f"""
            WITH t(ts) AS (
                SELECT '2000-01-01 00:00:00+00'::timestamptz + g * interval '1 hour' + d * interval '1 microsecond'
                FROM generate_series(0, 876600, 97) g, unnest(ARRAY[-1, 0, 1, 1799999999, 3599999999]) d
                UNION ALL
                SELECT '2000-01-01 00:00:00+00'::timestamptz + random() * interval '100 years'
                FROM generate_series(1, 20000)
            )
            SELECT count(*), count(*) FILTER (WHERE {UTC_HOUR_SQL.format("ts")} <> date_trunc('hour', ts, 'UTC'))
            FROM t
            """
        )
        total, different = cur.fetchone()
    assert total > 60_000
    assert different == 0
