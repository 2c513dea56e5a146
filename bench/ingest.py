"""Usage ingest benchmark (issue 3): batch vs raw COPY, single POST vs a bare DRF view, summary latency.

Run by `make bench` (bench/run.py) or alone: `.venv/bin/python bench/ingest.py [--quick]`.
Writes its figures into bench/RESULTS-ingest.md between the results markers.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    LoadResult,
    Server,
    bench_db,
    combine,
    connect,
    ensure_big_tenant,
    latency,
    percentile,
    run_load,
    say,
    token,
)

RESULTS = ROOT / "bench" / "RESULTS-ingest.md"
# gunicorn as `make serve` runs it, scaled to 2 cores: 2 processes of 8 threads each (gthread), so a
# request waiting for its commit's WAL flush leaves the CPU to the others.
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# the batch ratio's alternating rounds: a round is a fraction of a second, so a checkpoint or a new
# WAL segment landing in one weighs on one round of six, not on a third of the measurement
BATCH_ROUNDS = int(os.environ.get("BENCH_BATCH_ROUNDS", "6"))
# untimed batches before the batch rounds: enough to reach every one of the server's threads
WARM_BATCHES = int(os.environ.get("BENCH_WARM_BATCHES", str(2 * WORKERS * THREADS)))
GOALS = {
    "batch": 30_000,
    "batch_ratio": 0.5,
    "single_ratio": 0.5,
    "single": 1_500,
    "single_p99": 50,
    "summary_p50": 20,
    "summary_p99": 100,
}


def make_events(run: str, n: int, now: datetime) -> list[dict]:
    """Return n distinct, realistic events spread over the last hour."""
    metrics = ["api_calls"] * 7 + ["jobs", "storage_gb", "active_users"]
    out = []
    for i in range(n):
        m = metrics[i % 10]
        out.append(
            {
                "event_id": f"{run}-{i:08d}",
                "metric": m,
                "quantity": str(1 + i % 10) if m != "storage_gb" else f"{i % 500}.25",
                "timestamp": (now - timedelta(seconds=(i * 7) % 3600)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "resource_id": f"vm-{i % 40}",
                "properties": {"user_id": f"u{i % 300}", "region": "eu-west-1"},
            }
        )
    return out


def bench_batch(server: Server, quick: bool) -> tuple[LoadResult, LoadResult, int, list[float]]:
    """Return (HTTP batch load, raw COPY load, events per batch, each round's ratio), in alternating rounds.

    Rounds alternate the API and the raw COPY so a load that drifts during the run (a shared
    machine) weighs on both alike. Both sides are warm before the first round: `WARM_BATCHES`
    untimed batches reach the server's threads (each opens its database connection and prepares its
    statements once), and the COPY's connections are opened once and each writes one untimed batch.
    """
    n_batches, clients, per = (144, 4, 1000) if quick else (240, 4, 1000)
    run = "b" + uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    events = make_events(run, (WARM_BATCHES + n_batches) * per, now)
    bodies = [orjson.dumps({"events": events[k * per : (k + 1) * per]}) for k in range(WARM_BATCHES + n_batches)]
    headers = {"Authorization": f"Bearer {token('service')}"}
    # tenants of this run only: their rows start from nothing, as the ceiling's table does, whatever
    # earlier runs left in the bench database
    tenants = [f"bench-ingest-{run}-{c}" for c in range(clients)]
    rows = _copy_rows_of(run, tenants, now, n_batches=n_batches + clients, per=per, clients=clients)
    with connect() as conn:
        create_raw_table(conn, "bench_raw_events")
    http, raw = [], []
    step = n_batches // BATCH_ROUNDS

    def post(i: int) -> tuple[str, str, bytes]:
        return ("POST", f"/api/v1/billing/tenants/{tenants[i % clients]}/usage/batch", bodies[i])

    copiers = [connect(autocommit=False) for _ in range(clients)]
    try:
        run_load(post, port=server.port, headers=headers, concurrency=clients, total=WARM_BATCHES, max_seconds=120)
        _raw_copy(copiers, rows, range(n_batches, n_batches + clients), per=per)
        for r in range(BATCH_ROUNDS):
            lo = WARM_BATCHES + r * step
            http.append(
                run_load(
                    lambda i, lo=lo: post(lo + i),
                    port=server.port,
                    headers=headers,
                    concurrency=clients,
                    total=step,
                    max_seconds=120,
                    ok=(200,),
                )
            )
            raw.append(_raw_copy(copiers, rows, range(r * step, (r + 1) * step), per=per))
    finally:
        for conn in copiers:
            conn.close()
        with connect() as conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw_events")
    return combine(http), combine(raw), per, [h.rate / c.rate for h, c in zip(http, raw, strict=True)]


def create_raw_table(conn, name: str) -> None:
    """(Re)create `name` shaped like the events table: its columns, defaults and indexes, partitioned
    by month with the same partitions (`LIKE` copies neither the partitioning nor the partitions)."""
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f'CREATE TABLE {name} (LIKE billing_usageevent INCLUDING ALL) PARTITION BY RANGE ("timestamp")')
    bounds = conn.execute(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'billing_usageevent'::regclass ORDER BY 1"
    ).fetchall()
    for k, (bound,) in enumerate(bounds):
        conn.execute(f"CREATE TABLE {name}_{k} PARTITION OF {name} {bound}")


def _unique_fields() -> dict[str, str]:
    """Return {metric code: property field} of the catalog's unique_count metrics."""
    with connect() as conn:
        return dict(conn.execute("SELECT code, field FROM billing_metric WHERE aggregation = 'unique_count'"))


def _copy_rows_of(run: str, tenants: list[str], now: datetime, *, n_batches: int, per: int, clients: int) -> list:
    """Return the rows the raw COPY writes: events like the API's, as the API stores them (a unique_count
    event carries its unique_key, the md5 of its field's value)."""
    unique = _unique_fields()
    return [
        (
            tenants[(k // per) % clients],
            e["event_id"],
            e["metric"],
            e["quantity"],
            e["timestamp"],
            e["resource_id"],
            "",
            orjson.dumps(e["properties"]).decode(),
            now,
            hashlib.md5(str(e["properties"][unique[e["metric"]]]).encode()).hexdigest()
            if e["metric"] in unique
            else None,
        )
        for k, e in enumerate(make_events(run + "r", n_batches * per, now))
    ]


def _raw_copy(conns: list, rows: list, batches: range, *, per: int) -> LoadResult:
    """Return the raw COPY ceiling: `batches` of `rows` COPYed over the open connections `conns`.

    Into bench_raw_events, shaped (partitioned and indexed) like the events table; one transaction per batch
    of `per` rows, no dedup answer and no rollups.
    """
    lock = threading.Lock()
    nxt = iter(batches)
    lat: list[float] = []

    def copier(conn):
        while True:
            with lock:
                k = next(nxt, None)
            if k is None:
                return
            t0 = time.perf_counter()
            _copy_rows(conn, rows[k * per : (k + 1) * per])
            conn.commit()
            with lock:
                lat.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=copier, args=(conn,)) for conn in conns]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    secs = time.perf_counter() - t0
    return LoadResult(
        requests=len(lat),
        errors=0,
        seconds=secs,
        rate=len(lat) / secs,
        p50_ms=percentile(lat, 50),
        p99_ms=percentile(lat, 99),
        statuses={},
        latencies_ms=lat,
    )


COPY_COLUMNS = (
    'tenant_id, event_id, metric_id, quantity, "timestamp", resource_id, cost_center, properties, received_at, '
    "unique_key"
)


def _copy_rows(conn, rows: list[tuple]) -> None:
    """COPY `rows` into bench_raw_events on `conn` (the caller commits)."""
    with conn.cursor() as cur, cur.copy(f"COPY bench_raw_events ({COPY_COLUMNS}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def bench_single(server: Server, quick: bool) -> tuple[LoadResult, LoadResult, LoadResult]:
    """Return (single POSTs over 16 tenants, the bare view, single POSTs on one hot tenant + metric).

    Measured in alternating rounds (single, bare, hot, single, …) so a drifting machine load weighs
    on all three alike.
    """
    total, secs = (2400, 30) if quick else (8000, 60)
    run = "s" + uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {token('service')}"}
    bodies = [orjson.dumps(e) for e in make_events(run, total, datetime.now(UTC))]
    # the worst case: every request adds to the same (tenant, metric, hour) rollups
    hot_bodies = [
        orjson.dumps({**orjson.loads(b), "event_id": f"h{run}-{k}", "metric": "api_calls"})
        for k, b in enumerate(bodies)
    ]
    kinds = {
        # 16 clients spread over 16 tenants (the usual traffic: many tenants at once)
        "single": lambda i: ("POST", f"/api/v1/billing/tenants/bench-single-{i % 16}/usage", bodies[i]),
        "bare": lambda i: ("POST", "/bench/bare", bodies[i]),
        "hot": lambda i: ("POST", "/api/v1/billing/tenants/bench-single-hot/usage", hot_bodies[i]),
    }
    results: dict[str, list[LoadResult]] = {k: [] for k in kinds}
    step = total // ROUNDS
    for r in range(ROUNDS):
        lo = r * step
        for kind, make in kinds.items():
            results[kind].append(
                run_load(
                    lambda i, lo=lo, make=make: make(lo + i),
                    port=server.port,
                    headers=headers,
                    concurrency=16,
                    total=step - 16,
                    max_seconds=secs / ROUNDS / len(kinds),
                    warmup=16,
                )
            )
    return combine(results["single"]), combine(results["bare"]), combine(results["hot"])


def bench_summary(server: Server, quick: bool) -> tuple[dict, LoadResult, LoadResult]:
    n_events = 1_000_000 if quick else 10_000_000
    big = ensure_big_tenant("bench-big-1m" if quick else "bench-big", n_events=n_events)
    headers = {"Authorization": f"Bearer {token('tenant', big['tenant_id'])}"}
    path = f"/api/v1/billing/tenants/{big['tenant_id']}/usage/summary"
    n = 100 if quick else 300
    by_metric = latency(path, port=server.port, headers=headers, n=n, max_seconds=60)
    by_day = latency(path + "?group_by=day", port=server.port, headers=headers, n=max(20, n // 5), max_seconds=60)
    return big, by_metric, by_day


def write_results(lines: list[str]) -> None:
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else f"# Usage ingest benchmark\n\n{start}\n{end}\n"
    if start not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    RESULTS.write_text(head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


def _run_all(quick: bool, summary: bool = True) -> dict:
    """Return every measurement of the bench (printing each as it comes) against one served API."""
    with Server(workers=WORKERS, threads=THREADS) as server:
        http, raw, per, rounds = bench_batch(server, quick)
        ev_rate, raw_rate = http.rate * per, raw.rate * per
        say(
            f"batch ingest ({per}-event batches, 4 clients): {ev_rate:,.0f} events/s "
            f"(batch p50 {http.p50_ms:.0f} ms, p99 {http.p99_ms:.0f} ms, {http.errors} errors)"
        )
        say(f"raw COPY ceiling (same rows, 4 connections):   {raw_rate:,.0f} events/s")
        say(
            f"ratio batch / raw COPY: {ev_rate / raw_rate:.0%}; by round {_rounds_text(rounds)} "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        single, bare, hot = bench_single(server, quick)
        say(f"single POST (16 clients, 16 tenants): {single.line()}")
        say(f"single POST (16 clients, one tenant, one metric): {hot.line()}")
        say(f"bare DRF view (16 clients): {bare.line()}")
        say(f"ratio single / bare: {single.rate / bare.rate:.0%}")
        say(f"ratio hot single / bare: {hot.rate / bare.rate:.0%} (load average {os.getloadavg()[0]:.1f})")
        if not summary:
            return {
                **{"http": http, "ev_rate": ev_rate, "raw_rate": raw_rate, "rounds": rounds},
                **{"single": single, "bare": bare, "hot": hot},
            }
        big, by_metric, by_day = bench_summary(server, quick)
        say(
            f"summary over {big['events']:,} events (group_by=metric): p50 {by_metric.p50_ms:.1f} ms, "
            f"p99 {by_metric.p99_ms:.1f} ms ({by_metric.requests} requests, {by_metric.errors} errors)"
        )
        say(f"summary group_by=day: p50 {by_day.p50_ms:.1f} ms, p99 {by_day.p99_ms:.1f} ms")
    return {
        "http": http,
        "ev_rate": ev_rate,
        "raw_rate": raw_rate,
        "rounds": rounds,
        "single": single,
        "bare": bare,
        "hot": hot,
        "big": big,
        "by_metric": by_metric,
        "by_day": by_day,
    }


def _figures(r: dict) -> dict:
    """Return the bench's figures from the measurements `r` of `_run_all`."""
    single, bare, hot, by_metric, by_day = r["single"], r["bare"], r["hot"], r["by_metric"], r["by_day"]
    return {
        "batch_events_per_s": r["ev_rate"],
        "raw_copy_events_per_s": r["raw_rate"],
        "batch_ratio": r["ev_rate"] / r["raw_rate"],
        "batch_ratio_rounds": [round(x, 3) for x in r["rounds"]],
        "single_per_s": single.rate,
        "single_p50_ms": single.p50_ms,
        "single_p99_ms": single.p99_ms,
        "single_hot_per_s": hot.rate,
        "single_hot_p99_ms": hot.p99_ms,
        "bare_per_s": bare.rate,
        "single_ratio": single.rate / bare.rate,
        "single_hot_ratio": hot.rate / bare.rate,
        "bare_p99_ms": bare.p99_ms,
        "summary_events": r["big"]["events"],
        "summary_p50_ms": by_metric.p50_ms,
        "summary_p99_ms": by_metric.p99_ms,
        "summary_day_p50_ms": by_day.p50_ms,
        "summary_day_p99_ms": by_day.p99_ms,
    }


def _rounds_text(rounds: list[float]) -> str:
    """Return each round's batch / COPY ratio and their median, e.g. "48 51 50 … (median 50 %)"."""
    return " ".join(f"{x:.0%}" for x in rounds) + f" (median {statistics.median(rounds):.0%})"


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _result_lines(quick: bool, r: dict) -> list[str]:
    """Return the Markdown results table of the measurements `r` against the goals."""
    http, single, bare, hot, big = r["http"], r["single"], r["bare"], r["hot"], r["big"]
    by_metric, by_day, ev_rate, raw_rate = r["by_metric"], r["by_day"], r["ev_rate"], r["raw_rate"]
    return [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M}Z, {'--quick' if quick else 'full'} run, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), gunicorn {WORKERS} workers × {THREADS} threads, "
        f"{BATCH_ROUNDS} alternating batch rounds and {ROUNDS} single rounds, "
        f"load average {os.getloadavg()[0]:.1f} at the end, PostgreSQL and the load "
        "generator on the same machine.",
        "",
        "| measure | result | goal | |",
        "|---|---|---|---|",
        f"| batch ingest, 1,000-event batches, 4 clients | {ev_rate:,.0f} events/s (batch p50 {http.p50_ms:.0f} ms, "
        f"p99 {http.p99_ms:.0f} ms) | ≥ 30,000/s | {_mark(ev_rate >= GOALS['batch'])} |",
        f"| raw psycopg COPY of the same rows as stored, 4 connections, into a table partitioned and indexed "
        f"like the events table | {raw_rate:,.0f} events/s | — | |",
        f"| batch / raw COPY (each round) | {ev_rate / raw_rate:.0%} ({_rounds_text(r['rounds'])}) | ≥ 50 % "
        f"| {_mark(ev_rate / raw_rate >= GOALS['batch_ratio'])} |",
        f"| single-event POST, 16 clients over 16 tenants | {single.rate:,.0f}/s, p50 {single.p50_ms:.1f} ms, "
        f"p99 {single.p99_ms:.1f} ms | ≥ 1,500/s, p99 ≤ 50 ms "
        f"| {_mark(single.rate >= GOALS['single'] and single.p99_ms <= GOALS['single_p99'])} |",
        f"| bare DRF view (JWT + JSON, no work), 16 clients | {bare.rate:,.0f}/s, p50 {bare.p50_ms:.1f} ms, "
        f"p99 {bare.p99_ms:.1f} ms | — | |",
        f"| single / bare | {single.rate / bare.rate:.0%} | ≥ 50 % "
        f"| {_mark(single.rate / bare.rate >= GOALS['single_ratio'])} |",
        f"| single-event POST, 16 clients, all one tenant + metric (hot rollup rows) | {hot.rate:,.0f}/s, "
        f"p50 {hot.p50_ms:.1f} ms, p99 {hot.p99_ms:.1f} ms | — | |",
        f"| hot single / bare | {hot.rate / bare.rate:.0%} | ≥ 50 % "
        f"| {_mark(hot.rate / bare.rate >= GOALS['single_ratio'])} |",
        f"| summary, {big['events']:,} events in the month, group_by=metric | p50 {by_metric.p50_ms:.1f} ms, "
        f"p99 {by_metric.p99_ms:.1f} ms | p50 ≤ 20, p99 ≤ 100 ms "
        f"| {_mark(by_metric.p50_ms <= GOALS['summary_p50'] and by_metric.p99_ms <= GOALS['summary_p99'])} |",
        f"| summary, same tenant, group_by=day | p50 {by_day.p50_ms:.1f} ms, p99 {by_day.p99_ms:.1f} ms | — | |",
    ]


def main(quick: bool = False, summary: bool = True) -> dict:
    say(f"== bench/ingest ({'quick' if quick else 'full'}) ==")
    bench_db()
    r = _run_all(quick, summary)
    if not summary:  # ingest ratios only (--no-summary): printed, the results file is left alone
        return {
            "batch_ratio": r["ev_rate"] / r["raw_rate"],
            "batch_ratio_rounds": [round(x, 3) for x in r["rounds"]],
            "single_ratio": r["single"].rate / r["bare"].rate,
            "single_hot_ratio": r["hot"].rate / r["bare"].rate,
        }
    out = _figures(r)
    lines = _result_lines(quick, r)
    if not quick or not RESULTS.exists():
        write_results(lines)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-summary", action="store_true", help="ingest only: skip the big tenant's summary")
    args = parser.parse_args()
    main(quick=args.quick, summary=not args.no_summary)
