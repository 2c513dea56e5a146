"""Benchmark: latency tails of the six read endpoints on a tenant with 1 million events this month.

Goal (issue 17, Deliver 5, "Tails too"): p99 ≤ 2 × p50 for the usage summary, the billing preview and
estimate, and the real-time cost `current`, `by-resource` and `timeline` (hourly). One client,
gunicorn as `make serve` runs it (gthread workers, here 2 × 4 threads; `--threads 1` for sync workers
as the other latency benches), the endpoints taken in turn in blocks so a drift of the machine's load
weighs on all of them alike.

For each request the bench also reads, from /proc/<pid>/task/<tid>/schedstat, the CPU time the
server used for it (gunicorn workers and their PostgreSQL backends) and the time those threads
waited for a CPU (runnable, not running: the other engineers' processes on the shared cores). A tail
made of CPU is the service's own variance; a tail made of run-queue wait is the machine's. The most
CPU any request took and the count of requests at 1.5 × the median CPU or more are the service's
outliers (a full garbage collection, a reopened connection).

`--inproc` times each read in this process instead, without HTTP or middleware (`perf_counter`,
`process_time`, the collector's pauses through `gc.callbacks`, SQL time and the backend's CPU), on
the tenant a full run loaded; `--no-freeze` leaves the collector as it starts, for comparison.

    .venv/bin/python bench/tails.py [--quick] [--events N] [--requests N] [--rounds N] [--inproc [--no-freeze]]

Everything talks to 127.0.0.1 only and every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    BENCH_DB,
    Client,
    Server,
    bench_db,
    connect,
    db_url,
    ensure_big_tenant,
    percentile,
    say,
    token,
)
from bench.cputime import descendants  # noqa: E402
from bench.preview import ensure_subscription, top_up_current_hour  # noqa: E402

TENANT = "bench-tails"
EVENTS = 1_000_000
RATIO_GOAL = 2.0
ENDPOINTS = {
    "summary": "/api/v1/billing/tenants/{t}/usage/summary",
    "preview": "/api/v1/billing/tenants/{t}/billing/preview",
    "estimate": "/api/v1/billing/tenants/{t}/billing/estimate",
    "current": "/api/v1/billing/realtime-cost/tenants/{t}/current",
    "by-resource": "/api/v1/billing/realtime-cost/tenants/{t}/by-resource",
    "timeline": "/api/v1/billing/realtime-cost/tenants/{t}/timeline?granularity=hour",
}


# --- the server's CPU and run-queue wait per request --------------------------------------------


def _schedstat(pid: int) -> tuple[int, int]:
    """Return (ns on a CPU, ns runnable but waiting) summed over the live threads of `pid`."""
    run = wait = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                a, b, _ = f.read().split()
        except (OSError, ValueError):
            continue
        run += int(a)
        wait += int(b)
    return run, wait


class SchedMeter:
    """Run and wait time of one gunicorn tree and of the PostgreSQL backends connected to the bench database."""

    def __init__(self, root_pid: int) -> None:
        self.root = root_pid
        self.pids: list[int] = []
        self.conn = connect()
        self.own = self.conn.info.backend_pid
        self.refresh()

    def refresh(self) -> None:
        self.pids = descendants(self.root)
        self.backends()

    def snapshot(self) -> dict[int, tuple[int, int]]:
        return {pid: _schedstat(pid) for pid in self.pids}

    def backends(self) -> None:
        """Add the bench database's backends opened since the last look (a connection reopened after CONN_MAX_AGE)."""
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend' AND pid <> %s",
            [BENCH_DB, self.own],
        ).fetchall()
        self.pids += [r[0] for r in rows if r[0] not in self.pids]

    @staticmethod
    def used(before: dict, after: dict) -> tuple[float, float]:
        """Return (CPU ms, wait ms) between two snapshots (a process gone in between counts nothing)."""
        pairs = [(b, after[pid]) for pid, b in before.items() if after.get(pid, (0, 0))[0] >= b[0]]
        run = sum(a[0] - b[0] for b, a in pairs)
        wait = sum(a[1] - b[1] for b, a in pairs)
        return run / 1e6, wait / 1e6

    def close(self) -> None:
        self.conn.close()


@dataclass
class Series:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    wait: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    errors: int = 0

    def summary(self) -> dict:
        p50, p99 = percentile(self.wall, 50), percentile(self.wall, 99)
        cut = percentile(self.wall, 99)
        tail = [i for i, w in enumerate(self.wall) if w >= cut]
        return {
            "requests": len(self.wall),
            "errors": self.errors,
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "ratio": round(p99 / p50, 2) if p50 else float("nan"),
            "cpu_p50_ms": round(percentile(self.cpu, 50), 2),
            "cpu_p99_ms": round(percentile(self.cpu, 99), 2),
            "cpu_max_ms": round(max(self.cpu, default=0.0), 2),
            # requests whose server CPU was 1.5 × the median or more: the service's own outliers
            "cpu_spikes": sum(1 for c in self.cpu if c >= 1.5 * percentile(self.cpu, 50)),
            "tail_cpu_ms": round(statistics.mean(self.cpu[i] for i in tail), 2) if tail else 0.0,
            "tail_wait_ms": round(statistics.mean(self.wait[i] for i in tail), 2) if tail else 0.0,
            "wait_p50_ms": round(percentile(self.wait, 50), 2),
            "load": round(statistics.mean(self.loads), 2) if self.loads else 0.0,
        }


def _block(client: Client, meter: SchedMeter, path: str, n: int, series: Series) -> None:
    """Time `n` sequential GETs of `path` into `series` (wall, server CPU and run-queue wait per request)."""
    series.loads.append(os.getloadavg()[0])
    for _ in range(n):
        meter.backends()
        before = meter.snapshot()
        t0 = time.perf_counter()
        status, _ = client.request("GET", path)
        wall = (time.perf_counter() - t0) * 1000
        cpu, wait = meter.used(before, meter.snapshot())
        series.wall.append(wall)
        series.cpu.append(cpu)
        series.wait.append(wait)
        series.errors += status != 200


def measure(
    port: int, server_pid: int, headers: dict, tenant: str, *, requests: int, rounds: int, warmup: int = 20
) -> dict:
    """Return per-endpoint figures: `rounds` rounds, each endpoint `requests // rounds` times in a row per round."""
    paths = {name: p.format(t=tenant) for name, p in ENDPOINTS.items()}
    client = Client(port, headers)
    meter = SchedMeter(server_pid)
    try:
        for name, path in paths.items():  # every worker and connection warm on every endpoint
            for _ in range(warmup):
                status, body = client.request("GET", path)
                if status != 200:
                    raise RuntimeError(f"{name} answered {status}: {body[:300]!r}")
        meter.refresh()
        series = {name: Series() for name in paths}
        per_block = max(1, requests // rounds)
        for r in range(rounds):
            order = list(paths) if r % 2 == 0 else list(reversed(paths))
            for name in order:
                _block(client, meter, paths[name], per_block, series[name])
            meter.refresh()
    finally:
        client.close()
        meter.close()
    return {name: s.summary() for name, s in series.items()}


def report(results: dict, label: str = "") -> None:
    """Print one line per endpoint: wall p50/p99 and their ratio, then the server's CPU and the tail's make-up."""
    say(
        f"{label}{'endpoint':12s} {'p50':>6s} {'p99':>6s} {'p99/p50':>7s} | server CPU {'p50':>5s} {'p99':>5s} "
        f"{'ratio':>5s} {'max':>5s} spikes | p99 tail: CPU {'wait':>5s} | load"
    )
    for name, r in results.items():
        flag = "ok" if r["ratio"] <= RATIO_GOAL and not r["errors"] else "MISSED"
        cpu_ratio = r["cpu_p99_ms"] / r["cpu_p50_ms"] if r["cpu_p50_ms"] else float("nan")
        say(
            f"{label}{name:12s} {r['p50_ms']:6.1f} {r['p99_ms']:6.1f} {r['ratio']:7.2f} |            "
            f"{r['cpu_p50_ms']:5.1f} {r['cpu_p99_ms']:5.1f} {cpu_ratio:5.2f} {r['cpu_max_ms']:5.0f} "
            f"{r['cpu_spikes']:6d} |      {r['tail_cpu_ms']:4.1f} {r['tail_wait_ms']:5.1f} | {r['load']:.2f}  {flag}"
        )


# --- command line --------------------------------------------------------------------------------


def main(
    quick: bool = False,
    *,
    events: int | None = None,
    requests: int | None = None,
    rounds: int | None = None,
    tenant: str = TENANT,
    env: dict | None = None,
    threads: int = 4,
    workers: int = 2,
) -> dict:
    """Run the benchmark and return its figures per endpoint (p50, p99, p99/p50, CPU, wait, load)."""
    n_events = events or EVENTS
    n_requests = requests or (120 if quick else 600)
    n_rounds = rounds or (3 if quick else 6)
    bench_db()
    facts = ensure_big_tenant(tenant, n_events=n_events)
    top_up_current_hour(tenant, n_events)
    headers = {"Authorization": f"Bearer {token('finance')}"}
    with Server(workers=workers, threads=threads, env=env) as server:
        assert server.proc is not None
        sub = ensure_subscription(server.port, headers, tenant)
        say(
            f"tenant {tenant}: {facts['events']:,} events this month, subscription on {sub['plan_id']} "
            f"[{sub['current_period_start']}, {sub['current_period_end']}); load {os.getloadavg()[0]:.2f}"
        )
        results = measure(server.port, server.proc.pid, headers, tenant, requests=n_requests, rounds=n_rounds)
    report(results)
    met = all(r["ratio"] <= RATIO_GOAL and not r["errors"] for r in results.values())
    worst = max(results, key=lambda k: results[k]["ratio"])
    say(
        f"tails: worst p99/p50 {results[worst]['ratio']:.2f} ({worst}; goal ≤ {RATIO_GOAL:.0f}): "
        f"{'met' if met else 'NOT met'}"
    )
    return {"events": facts["events"], "results": results, "met": met}


def inproc_only(tenant: str, n: int, freeze: bool = True) -> int:
    """Print the in-process timings of the six views on `tenant` (already loaded by a full run)."""
    from bench.tails_inproc import report as inproc_report
    from bench.tails_inproc import run_views

    os.environ["DATABASE_URL"] = db_url()  # before token() sets Django up
    headers = {"Authorization": f"Bearer {token('finance')}"}
    paths = {name: p.format(t=tenant) for name, p in ENDPOINTS.items()}
    say(f"load {os.getloadavg()[0]:.2f}")
    inproc_report(run_views(paths, headers, n, freeze=freeze), say)
    say(f"load {os.getloadavg()[0]:.2f}")
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="120 requests per endpoint")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="requests per endpoint")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (as make serve; 1: sync)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--tenant", default=TENANT)
    parser.add_argument("--inproc", action="store_true", help="only the in-process timings (no server)")
    parser.add_argument("--no-freeze", action="store_true", help="in process: leave the collector as it starts")
    a = parser.parse_args()
    if a.inproc:
        return inproc_only(a.tenant, a.requests or 200, freeze=not a.no_freeze)
    result = main(
        a.quick,
        events=a.events,
        requests=a.requests,
        rounds=a.rounds,
        tenant=a.tenant,
        threads=a.threads,
        workers=a.workers,
    )
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(cli())
