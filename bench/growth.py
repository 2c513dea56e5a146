"""Growth: reads of the current period must not grow with the events table (issue 17, Deliver 5).

Opt-in: `make bench SCALE=100m` (or `python bench/growth.py --scale 100m`); `make bench` alone skips it.
Builds 12 monthly partitions in the bench database: the current month holds the same events at every
scale (tenant growth-big, 10M / 12 ≈ 833k spread over [month start, now)), the 11 months before it
hold the rest, over 20 tenants (growth-big and growth-t1…t19). Measured at 10M, then grown to the
target (100M) and measured again, on the same server settings:
- summary, preview and real-time current cost of growth-big's current period: p50/p99 of sequential
  requests (gunicorn, 2 workers);
- batch ingest: 1,000-event batches into the current month by 4 clients, events/s;
- sizes: the events partitions (heap and indexes), the key table, the rollups;
- the first VACUUM (ANALYZE) of the oldest month's partition after its load, and `archive_usage` of
  that month (its tenants get finalized invoices covering it first; includes manage.py's start-up).
The archived month is emptied (events and rollups) and loaded again before the next scale. Idempotent: what is loaded is
remembered in the table bench_growth_state, so a second run only measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg import sql  # noqa: E402

from bench.common import Server, _manage, bench_db, connect, latency, month_bounds, run_load, say, token  # noqa: E402
from bench.preview import ensure_subscription  # noqa: E402

TENANT = "growth-big"
TENANTS = 20
MONTHS = 12
BASE_SCALE = 10_000_000
CHUNK = 500_000
STATE = "bench_growth_state"


def parse_scale(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def _month(now: datetime, back: int) -> tuple[datetime, datetime]:
    start, _ = month_bounds(now)
    index = start.year * 12 + start.month - 1 - back
    lo = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
    hi = datetime((index + 1) // 12, (index + 1) % 12 + 1, 1, tzinfo=UTC)
    return lo, hi


def _partition(lo: datetime) -> str:
    return f"billing_usageevent_p{lo.year:04d}_{lo.month:02d}"


def _create_partition(conn, lo: datetime, hi: datetime) -> None:
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF billing_usageevent FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(_partition(lo)), sql.Literal(lo), sql.Literal(hi)
        )
    )


LOAD_SQL = """
WITH src AS (
    SELECT CASE WHEN %(current)s OR g %% %(nt)s = 0 THEN %(big)s ELSE 'growth-t' || (g %% %(nt)s) END AS tenant_id,
           %(tag)s || '-' || g AS event_id, k.metric AS metric_id,
           CASE k.metric WHEN 'api_calls' THEN 1 + g %% 10 WHEN 'storage_gb' THEN 1 + g %% 500 ELSE 1 END AS quantity,
           %(lo)s + (g::bigint * %(step)s) * interval '1 microsecond' AS ts,
           'vm-' || (g %% 50) AS resource_id,
           CASE WHEN k.metric = 'active_users' THEN jsonb_build_object('user_id', 'u' || (g %% 1000))
                ELSE '{}'::jsonb END AS properties,
           CASE WHEN k.metric = 'active_users' THEN md5('u' || (g %% 1000)) END AS unique_key
    FROM generate_series(%(a)s, %(b)s - 1) g,
         LATERAL (SELECT CASE WHEN g %% 20 < 14 THEN 'api_calls' WHEN g %% 20 < 17 THEN 'jobs'
                              WHEN g %% 20 = 17 THEN 'storage_gb' ELSE 'active_users' END AS metric) k
), ins AS (
    INSERT INTO billing_usageevent (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id,
                                    cost_center, properties, received_at, unique_key)
    SELECT tenant_id, event_id, metric_id, quantity, ts, resource_id, '', properties, now(), unique_key FROM src
    RETURNING tenant_id, event_id, metric_id, quantity, "timestamp", resource_id, cost_center, unique_key
), daily AS (
    INSERT INTO billing_usagedailydistinct (tenant_id, metric_id, day, unique_key)
    SELECT tenant_id, metric_id, ("timestamp" AT TIME ZONE 'UTC')::date, unique_key
    FROM ins WHERE unique_key IS NOT NULL GROUP BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING
), keyed AS (
    INSERT INTO billing_usageeventkey (tenant_id, event_id, "timestamp")
    SELECT tenant_id, event_id, "timestamp" FROM ins
), roll AS (
    INSERT INTO billing_usagerollup AS r (tenant_id, metric_id, hour, resource_id, cost_center,
                                          quantity_sum, quantity_max, event_count)
    SELECT tenant_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), resource_id, cost_center,
           sum(quantity), max(quantity), count(*)
    FROM ins GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (tenant_id, metric_id, hour, resource_id, cost_center, shard) DO UPDATE SET
        quantity_sum = r.quantity_sum + EXCLUDED.quantity_sum,
        quantity_max = GREATEST(r.quantity_max, EXCLUDED.quantity_max),
        event_count = r.event_count + EXCLUDED.event_count
), hourly AS (
    INSERT INTO billing_usagehourly AS h (tenant_id, metric_id, hour, quantity_sum, quantity_max, event_count)
    SELECT tenant_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), sum(quantity), max(quantity), count(*)
    FROM ins GROUP BY 1, 2, 3
    ON CONFLICT (tenant_id, metric_id, hour, shard) DO UPDATE SET
        quantity_sum = h.quantity_sum + EXCLUDED.quantity_sum,
        quantity_max = GREATEST(h.quantity_max, EXCLUDED.quantity_max),
        event_count = h.event_count + EXCLUDED.event_count
)
SELECT count(*) FROM ins
"""


def _prepare(conn, now: datetime) -> None:
    """Create the state table, the tenants and the 12 months' partitions (the months ahead exist)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {STATE} (month timestamptz PRIMARY KEY, events bigint NOT NULL)")
    for i in range(TENANTS):
        tenant_id = TENANT if i == 0 else f"growth-t{i}"
        conn.execute(
            "INSERT INTO billing_tenant (id, name, email, address, tax_rate, stripe_customer_id, created_at) "
            "VALUES (%s, %s, '', '', 0, '', now()) ON CONFLICT (id) DO NOTHING",
            [tenant_id, tenant_id],
        )
    for back in range(MONTHS):
        _create_partition(conn, *_month(now, back))


def _load_month(conn, now: datetime, back: int, want: int) -> float | None:
    """Load month `back` (0 = current) up to `want` events; return its first VACUUM's seconds, if loaded now."""
    lo, hi = _month(now, back)
    have = (conn.execute(f"SELECT events FROM {STATE} WHERE month = %s", [lo]).fetchone() or [0])[0]
    if have >= want:
        return None
    end = min(hi, now - timedelta(minutes=1)) if back == 0 else hi
    step = max(int((end - lo).total_seconds() * 1_000_000 // want), 1)
    tag = f"gr{lo:%Y%m}-{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    for a in range(have, want, CHUNK):
        b = min(want, a + CHUNK)
        params = {"current": back == 0, "nt": TENANTS, "big": TENANT, "tag": tag, "lo": lo, "step": step}
        conn.execute(LOAD_SQL, {**params, "a": a, "b": b})
        conn.execute(
            f"INSERT INTO {STATE} VALUES (%s, %s) ON CONFLICT (month) DO UPDATE SET events = EXCLUDED.events", [lo, b]
        )
    t1 = time.perf_counter()
    conn.execute(f"VACUUM (ANALYZE) {_partition(lo)}")
    vacuum = time.perf_counter() - t1
    say(f"  {lo:%Y-%m}: {want:,} events ({t1 - t0:.0f} s load, {vacuum:.1f} s first VACUUM)")
    return vacuum


def load(scale: int, now: datetime) -> dict:
    """Make the 12 months hold `scale` events (the current month fixed); return the oldest month's VACUUM s."""
    current = BASE_SCALE // MONTHS
    per_old = (scale - current) // (MONTHS - 1)
    vacuums = {}
    with connect() as conn:
        _prepare(conn, now)
        for back in range(MONTHS - 1, -1, -1):
            seconds = _load_month(conn, now, back, current if back == 0 else per_old)
            if seconds is not None:
                vacuums[back] = seconds
        for table in ("billing_usageeventkey", "billing_usagerollup", "billing_usagehourly"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return {"vacuum_oldest_s": vacuums.get(MONTHS - 1), "per_old_month": per_old, "current_month": current}


def sizes() -> dict:
    with connect() as conn:
        heap, index = conn.execute(
            "SELECT sum(pg_table_size(inhrelid)), sum(pg_indexes_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'billing_usageevent'::regclass"
        ).fetchone()
        keys, rollups = conn.execute(
            "SELECT pg_total_relation_size('billing_usageeventkey'), "
            "pg_total_relation_size('billing_usagerollup') + pg_total_relation_size('billing_usagehourly')"
        ).fetchone()
        total = conn.execute("SELECT count(*) FROM billing_usageevent").fetchone()[0]
    mb = 1024 * 1024
    return {
        "events": total,
        "events_heap_mb": round(heap / mb),
        "events_index_mb": round(index / mb),
        "key_table_mb": round(keys / mb),
        "rollups_mb": round(rollups / mb),
    }


def reads(n: int) -> dict:
    """Return p50/p99 ms of summary, preview and real-time current cost of growth-big, and the batch rate."""
    finance = {"Authorization": f"Bearer {token('finance')}"}
    service = {"Authorization": f"Bearer {token('service')}"}
    out: dict = {}
    with Server(workers=2) as server:
        ensure_subscription(server.port, finance, TENANT)
        for name, path in (
            ("summary", f"/api/v1/billing/tenants/{TENANT}/usage/summary"),
            ("preview", f"/api/v1/billing/tenants/{TENANT}/billing/preview"),
            ("realtime", f"/api/v1/billing/realtime-cost/tenants/{TENANT}/current"),
        ):
            r = latency(path, port=server.port, headers=finance, n=n, max_seconds=60, warmup=10)
            say(f"  {name:9s} {r.line()}")
            out[name] = {"p50_ms": round(r.p50_ms, 1), "p99_ms": round(r.p99_ms, 1), "errors": r.errors}
        run = uuid.uuid4().hex[:8]

        def batch(i: int):
            events = [{"event_id": f"{run}-{i}-{j}", "metric": "api_calls", "quantity": "1"} for j in range(1000)]
            return "POST", "/api/v1/billing/tenants/growth-ingest/usage/batch", json.dumps({"events": events}).encode()

        r = run_load(batch, port=server.port, headers=service, concurrency=4, total=40, max_seconds=60, warmup=4)
        say(f"  batch     {r.line()}")
        out["batch_events_per_s"] = round(r.rate * 1000)
    return out


def archive_oldest(now: datetime) -> dict:
    """Give the oldest month's tenants finalized invoices covering it, archive it, then empty it for reloading."""
    lo, hi = _month(now, MONTHS - 1)
    code = (
        "from billing.models import Invoice\n"
        f"for t in ['{TENANT}'] + ['growth-t%d' % i for i in range(1, {TENANTS})]:\n"
        f"    Invoice.objects.get_or_create(tenant_id=t, period_start='{lo.isoformat()}', "
        f"period_end='{hi.isoformat()}', defaults={{'status': 'paid', 'currency': 'USD'}})\n"
    )
    _manage(["shell", "-c", code])
    with tempfile.TemporaryDirectory() as directory:
        t0 = time.perf_counter()
        r = _manage(["archive_usage", "--month", f"{lo:%Y-%m}", "--dir", directory], check=False)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(directory).glob("*.parquet"))
    say(
        f"  archive {lo:%Y-%m}: {seconds:.1f} s, {size / 1024 / 1024:.0f} MB Parquet: "
        f"{r.stdout.strip()}{r.stderr[-300:]}"
    )
    with connect() as conn:  # empty the month again (bench data only) so the next scale reloads it
        conn.execute('DELETE FROM billing_usageevent WHERE "timestamp" >= %s AND "timestamp" < %s', [lo, hi])
        for table in ("billing_usagerollup", "billing_usagehourly"):  # the rollups stay on archiving: reset them
            conn.execute(
                f"DELETE FROM {table} WHERE (tenant_id = %s OR tenant_id LIKE 'growth-t%%') "
                "AND hour >= %s AND hour < %s",
                [TENANT, lo, hi],
            )
        conn.execute(f"DELETE FROM {STATE} WHERE month = %s", [lo])
        _create_partition(conn, lo, hi)
    return {"archive_s": round(seconds, 1), "parquet_mb": round(size / 1024 / 1024), "output": r.stdout.strip()}


def main(quick: bool = False, scale: str = "100m") -> dict:
    """Measure at 10M (1M with quick) and at `scale`; return the figures per scale."""
    target = parse_scale(scale) if not quick else 1_000_000
    scales = sorted({min(BASE_SCALE, target), target})
    bench_db()
    now = datetime.now(UTC)
    results = {}
    for n in scales:
        say(f"growth: {n:,} events in {MONTHS} monthly partitions")
        facts = load(n, now)
        figures = {**facts, **sizes(), **reads(100 if quick else 300), **archive_oldest(now)}
        say("  " + json.dumps(figures))
        results[n] = figures
    if len(scales) == 2:
        small, big = results[scales[0]], results[scales[1]]
        for name in ("summary", "preview", "realtime"):
            ratio = big[name]["p50_ms"] / small[name]["p50_ms"] if small[name]["p50_ms"] else 0
            say(f"{name}: p50 {small[name]['p50_ms']} → {big[name]['p50_ms']} ms ({ratio:.2f}×, goal ≤ 1.20×)")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100m", help="total events at the large scale (10m, 100m, …)")
    parser.add_argument("--quick", action="store_true", help="1M events only")
    args = parser.parse_args()
    main(quick=args.quick, scale=args.scale)
