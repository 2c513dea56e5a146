"""Reusable pieces for the benchmarks under bench/: the bench database, the served API, load loops.

- `bench_db()` creates `billing_bench` on DATABASE_URL's server if missing and migrates it.
- `Server(env=…)` starts gunicorn on a free 127.0.0.1 port against that database and stops it.
- `ensure_big_tenant(tenant_id, n_events=10_000_000)` bulk-loads a month of events in SQL and builds
  their rollups (idempotent: skipped when already loaded for the current month).
- `run_load(make_request, …)` runs a bounded closed-loop load (threads, keep-alive http.client) and
  returns the rate and p50/p99 latencies; `latency(…)` times sequential requests.
Everything talks to 127.0.0.1 only and every loop is bounded in count and in time.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
GUNICORN = str(Path(PY).parent / "gunicorn")
BENCH_DB = os.environ.get("BENCH_DB_NAME", "billing_bench")
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def say(msg: str) -> None:
    print(msg, flush=True)


# --- database ------------------------------------------------------------------------------------


def server_url() -> str:
    """Return the URL of the PostgreSQL server to use (DATABASE_URL, else the local default)."""
    return os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL


def db_url(name: str = BENCH_DB) -> str:
    """Return server_url() pointing at database `name`."""
    u = urlparse(server_url())
    return urlunparse(u._replace(path="/" + name))


def connect(name: str = BENCH_DB, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(db_url(name), autocommit=autocommit)


def _manage(args: list[str], cwd: Path = ROOT, check: bool = True, env: dict | None = None):
    full_env = {**os.environ, "DATABASE_URL": db_url(), **(env or {})}
    return subprocess.run(
        [PY, "manage.py", *args], cwd=cwd, env=full_env, capture_output=True, text=True, check=check, timeout=900
    )


def _create_db() -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
            say(f"created database {BENCH_DB}")


def _drop_db() -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def _migrate_from_throwaway_copy() -> None:
    """Migrate with migrations generated in a temporary copy of the tree (the repo's are stale).

    The lead regenerates migrations at each commit; helpers never write migration files into the
    repository, so the missing ones are generated in a copy that is deleted afterwards.
    """
    tmp = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    try:
        ignore = shutil.ignore_patterns(".venv", ".data", ".git", "staticfiles", "__pycache__", ".artifacts")
        shutil.copytree(ROOT, tmp / "app", ignore=ignore)
        app = tmp / "app"
        _manage(["makemigrations", "--noinput"], cwd=app)
        r = _manage(["migrate", "--noinput"], cwd=app, check=False)
        if r.returncode != 0:
            # a previous throwaway history conflicts: start the bench database afresh
            say("bench database has an incompatible migration history: recreating it")
            _drop_db()
            _create_db()
            _manage(["migrate", "--noinput"], cwd=app)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_db(load_catalog: bool = True) -> str:
    """Return the bench database URL after creating it if missing, migrating it and loading the catalog."""
    _create_db()
    stale = _manage(["makemigrations", "--check", "--dry-run"], check=False).returncode != 0
    if stale:
        say("migrations in the tree are stale: migrating from a throwaway copy")
        _migrate_from_throwaway_copy()
    else:
        r = _manage(["migrate", "--noinput"], check=False)
        if r.returncode != 0:
            say("migrate failed; recreating the bench database:\n" + r.stderr[-800:])
            _drop_db()
            _create_db()
            _manage(["migrate", "--noinput"])
    if load_catalog:
        _manage(["load_catalog", str(ROOT / "billing" / "fixtures" / "demo_catalog.json")])
    return db_url()


# --- the served API ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn serving the API on a free 127.0.0.1 port against the bench database."""

    def __init__(self, env: dict | None = None, workers: int = 4, threads: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url(),
            "BENCH_VIEWS": "1",
            "LOG_LEVEL": "ERROR",
            "DEBUG": "0",
            **(env or {}),
        }
        self.args = [
            GUNICORN,
            "billing_project.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ]
        if threads > 1:
            self.args += ["--threads", str(threads), "--worker-class", "gthread"]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + (self.proc.stderr.read() or "")[-2000:])
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not become healthy within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def token(role: str, tenant_id: str | None = None, sub: str = "bench") -> str:
    """Return a bearer token signed with the server's key (same env, same settings)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    os.environ.setdefault("DATABASE_URL", server_url())
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from billing_project.auth import issue_token

    return issue_token(sub=sub, role=role, tenant_id=tenant_id, ttl_seconds=7200)


# --- load ----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def line(self, unit: str = "req/s") -> str:
        return (
            f"{self.rate:,.0f} {unit}, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms "
            f"({self.requests} requests, {self.errors} errors, {self.seconds:.1f} s)"
        )


def combine(results: list[LoadResult]) -> LoadResult:
    """Return the load results of several rounds as one: total requests over total time, pooled latencies."""
    ms = [x for r in results for x in r.latencies_ms]
    seconds = sum(r.seconds for r in results)
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return LoadResult(
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        seconds=seconds,
        rate=sum(r.requests for r in results) / seconds if seconds else 0,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        statuses=statuses,
        latencies_ms=ms,
    )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 (reconnects when the server closes it)."""

    def __init__(self, port: int, headers: dict | None = None):
        self.port = port
        self.headers = headers or {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {**self.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


class _LoadState:
    """What the threads of one `run_load` share: the request counter, the deadline and the tallies."""

    def __init__(self, total: int, concurrency: int, ok) -> None:
        self.lock = threading.Lock()
        self.counter = iter(range(total))
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.deadline = 0.0
        self.started = threading.Barrier(concurrency + 1)
        self.ok = ok

    def take(self) -> int | None:
        with self.lock:
            return next(self.counter, None)

    def record(self, dt: float, status: int) -> None:
        with self.lock:
            self.latencies.append(dt)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status not in self.ok:
                self.errors += 1


def _load_worker(state: _LoadState, make_request, port: int, headers: dict, warmups: int) -> None:
    """Send `warmups` untimed requests, wait for the start, then timed requests until the count or time ends."""
    client = Client(port, headers)
    try:
        for _ in range(warmups):
            i = state.take()
            if i is None:
                break
            client.request(*make_request(i))
        state.started.wait()
        while time.perf_counter() < state.deadline:
            i = state.take()
            if i is None:
                break
            t0 = time.perf_counter()
            status, _ = client.request(*make_request(i))
            state.record(time.perf_counter() - t0, status)
    finally:
        client.close()


def run_load(
    make_request,
    *,
    port: int,
    headers: dict,
    concurrency: int,
    total: int,
    max_seconds: float,
    ok=(200, 201),
    warmup: int = 0,
) -> LoadResult:
    """Return rate and latencies of `total` requests from `concurrency` threads (stops at max_seconds).

    `make_request(i)` returns (method, path, body bytes|None) for the i-th request.
    """
    state = _LoadState(total + warmup, concurrency, ok)
    args = (state, make_request, port, headers, warmup // concurrency)
    threads = [threading.Thread(target=_load_worker, args=args, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    state.deadline = float("inf")
    state.started.wait()
    t0 = time.perf_counter()
    state.deadline = t0 + max_seconds
    for t in threads:
        t.join(max_seconds + 120)
    seconds = time.perf_counter() - t0
    ms = [x * 1000 for x in state.latencies]
    return LoadResult(
        requests=len(ms),
        errors=state.errors,
        seconds=seconds,
        rate=len(ms) / seconds if seconds else 0,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
        statuses=state.statuses,
        latencies_ms=ms,
    )


def latency(path: str, *, port: int, headers: dict, n: int, max_seconds: float, warmup: int = 5) -> LoadResult:
    """Return p50/p99 of `n` sequential GETs of `path` (one client, so latency is not queueing)."""
    return run_load(
        lambda i: ("GET", path, None),
        port=port,
        headers=headers,
        concurrency=1,
        total=n,
        max_seconds=max_seconds,
        warmup=warmup,
        ok=(200,),
    )


# --- a big tenant --------------------------------------------------------------------------------


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def _big_tenant_loaded(conn: psycopg.Connection, tenant_id: str, start: datetime, n_events: int) -> int | None:
    """Return how many events `tenant_id` holds this month when at least `n_events` are loaded and rolled up."""
    have = conn.execute(
        "SELECT coalesce(sum(event_count), 0) FROM billing_usagehourly WHERE tenant_id = %s AND hour >= %s",
        [tenant_id, start],
    ).fetchone()[0]
    raw = (
        conn.execute(
            'SELECT count(*) FROM billing_usageevent WHERE tenant_id = %s AND "timestamp" >= %s',
            [tenant_id, start],
        ).fetchone()[0]
        if have >= n_events
        else -1
    )
    if have >= n_events and raw == have:
        return int(have)
    return None


def _insert_big_events(conn: psycopg.Connection, params: dict, n_events: int, chunk: int, t0: float) -> None:
    """Insert `n_events` generated events (SQL `params` t, start, step, res, users) in chunks of `chunk` rows."""
    for lo in range(0, n_events, chunk):
        hi = min(n_events, lo + chunk)
        conn.execute(
            """
            INSERT INTO billing_usageevent (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id,
                                            cost_center, properties, received_at, unique_key)
            SELECT %(t)s, 'big-' || lpad(g::text, 9, '0'), k.metric,
                   CASE k.metric WHEN 'api_calls' THEN 1 + g %% 10 WHEN 'storage_gb' THEN 1 + g %% 500 ELSE 1 END,
                   %(start)s + (g::bigint * %(step)s) * interval '1 microsecond',
                   'vm-' || (g %% %(res)s), '',
                   CASE WHEN k.metric = 'active_users'
                        THEN jsonb_build_object('user_id', 'u' || (g %% %(users)s)) ELSE '{}'::jsonb END,
                   now(),
                   CASE WHEN k.metric = 'active_users' THEN md5('u' || (g %% %(users)s)) END
            FROM generate_series(%(lo)s, %(hi)s - 1) g,
                 LATERAL (SELECT CASE WHEN g %% 20 < 14 THEN 'api_calls' WHEN g %% 20 < 17 THEN 'jobs'
                                      WHEN g %% 20 = 17 THEN 'storage_gb' ELSE 'active_users' END AS metric) k
            """,
            {**params, "lo": lo, "hi": hi},
        )
        say(f"  {hi:,} events ({time.perf_counter() - t0:.0f} s)")


def fill_daily_distinct(conn: psycopg.Connection, tenant_id: str, since: datetime | None = None) -> None:
    """Add the (metric, UTC day, unique_key) of `tenant_id`'s events (from `since`) to the per-day distinct table.

    What the ingest writes in its own statement; benches that insert raw events directly call this.
    """
    conn.execute(
        """
        INSERT INTO billing_usagedailydistinct (tenant_id, metric_id, day, unique_key)
        SELECT DISTINCT tenant_id, metric_id, ("timestamp" AT TIME ZONE 'UTC')::date, unique_key
        FROM billing_usageevent
        WHERE tenant_id = %s AND unique_key IS NOT NULL AND "timestamp" >= %s
        ON CONFLICT DO NOTHING
        """,
        [tenant_id, since or datetime(1970, 1, 1, tzinfo=UTC)],
    )


def _rebuild_rollups(conn: psycopg.Connection, tenant_id: str) -> None:
    """Rebuild both rollup tables and the per-day distinct table of `tenant_id` from its raw events."""
    conn.execute(
        """
        INSERT INTO billing_usagerollup (tenant_id, metric_id, hour, resource_id, cost_center,
                                         quantity_sum, quantity_max, event_count)
        SELECT tenant_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), resource_id, cost_center,
               sum(quantity), max(quantity), count(*)
        FROM billing_usageevent WHERE tenant_id = %s GROUP BY 1, 2, 3, 4, 5
        """,
        [tenant_id],
    )
    conn.execute(
        """
        INSERT INTO billing_usagehourly (tenant_id, metric_id, hour, quantity_sum, quantity_max, event_count)
        SELECT tenant_id, metric_id, hour, sum(quantity_sum), max(quantity_max), sum(event_count)
        FROM billing_usagerollup WHERE tenant_id = %s GROUP BY 1, 2, 3
        """,
        [tenant_id],
    )
    fill_daily_distinct(conn, tenant_id)


# The usage tables ensure_big_tenant fills for a tenant (raw events, their keys and every rollup).
BIG_TENANT_TABLES = (
    "billing_usageeventkey",
    "billing_usageevent",
    "billing_usagerollup",
    "billing_usagehourly",
    "billing_usagedailydistinct",
    "billing_usagelevel",
)


def ensure_big_tenant(
    tenant_id: str, n_events: int = 10_000_000, *, users: int = 1000, resources: int = 50, chunk: int = 1_000_000
) -> dict:
    """Return facts about `tenant_id` after making sure it holds `n_events` events this month.

    Events are spread evenly over [month start, now - 1 min): 70 % api_calls (quantity 1–10),
    15 % jobs, 5 % storage_gb (1–500), 10 % active_users over `users` distinct user ids, across
    `resources` resource ids. Loaded with INSERT … SELECT generate_series (no network round trip
    per row), then both rollup tables and the per-day distinct table are rebuilt from the raw rows and
    the tables are vacuumed so index-only scans work. Idempotent: when the month's rollups already count
    `n_events`, nothing is done. Needs the bench database migrated (`bench_db()`).
    """
    start, _ = month_bounds()
    now = datetime.now(UTC)
    span = max((now - timedelta(minutes=1)) - start, timedelta(hours=1))
    with connect() as conn:
        # Several benches may call this at once (make bench runs them in turn, engineers run them
        # side by side): one loads, the others wait on this session lock and then find it loaded.
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [f"ensure_big_tenant:{tenant_id}"])
        have = _big_tenant_loaded(conn, tenant_id, start, n_events)
        if have is not None:
            return {"tenant_id": tenant_id, "events": have, "loaded": False, "from": start}
        say(f"loading {n_events:,} events for tenant {tenant_id} (one-off; later runs reuse them)…")
        t0 = time.perf_counter()
        conn.execute(
            "INSERT INTO billing_tenant (id, name, email, address, tax_rate, stripe_customer_id, created_at) "
            "VALUES (%s, 'Bench big tenant', '', '', 0, '', now()) ON CONFLICT (id) DO NOTHING",
            [tenant_id],
        )
        for table in BIG_TENANT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])
        step_us = int(span.total_seconds() * 1_000_000 // n_events) or 1
        params = {"t": tenant_id, "start": start, "step": step_us, "res": resources, "users": users}
        _insert_big_events(conn, params, n_events, chunk, t0)
        # The key table decides exactly-once for the API's later ingests of this tenant.
        conn.execute(
            'INSERT INTO billing_usageeventkey (tenant_id, event_id, "timestamp") '
            'SELECT tenant_id, event_id, "timestamp" FROM billing_usageevent WHERE tenant_id = %s',
            [tenant_id],
        )
        _rebuild_rollups(conn, tenant_id)
        _manage(["rebuild_level_rollups", "--tenant", tenant_id])  # the level metrics' rollup, if any
        say(f"  rollups built ({time.perf_counter() - t0:.0f} s); vacuuming…")
        for table in BIG_TENANT_TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        say(f"  done in {time.perf_counter() - t0:.0f} s")
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [f"ensure_big_tenant:{tenant_id}"])
    return {"tenant_id": tenant_id, "events": n_events, "loaded": True, "from": start}


def latency_cli(main, description: str, default_tenant: str) -> int:
    """Return the exit code of a latency bench's command line (`--quick`, `--events`, …) run through `main`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="1 million events, 100 requests")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--tenant", default=default_tenant)
    a = parser.parse_args()
    result = main(a.quick, events=a.events, requests=a.requests, seconds=a.seconds, tenant=a.tenant)
    return 0 if result["met"] else 1
