"""What the metrics cost on the ingest hot path: batch and single ingest, metrics on vs off (issue 18).

    .venv/bin/python bench/metrics_cost.py [--quick] [--rounds N]

The switch is METRICS_ENABLED: "on" is a gunicorn server as production runs it (django-prometheus
middleware and database wrapper, our counters, multiprocess files in a fresh PROMETHEUS_MULTIPROC_DIR);
"off" is METRICS_ENABLED=0 (none of those). The two servers alternate over several rounds, each
load is the same shape as bench/ingest.py's, and the medians are compared: the goal is "on" within
5 % of "off". On a shared or busy machine the noise between two runs of the *same* server is often
larger than 5 %: the table says how far apart the rounds were, so read it with that in mind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Server, bench_db, db_url, run_load, say, token  # noqa: E402
from bench.ingest import make_events  # noqa: E402

GOAL = 0.05


def _batch_rate(server: Server, quick: bool) -> float:
    """Return events/s of 1,000-event batches from 4 clients."""
    n_batches, per, clients = (12, 1000, 4) if quick else (40, 1000, 4)
    run = "mb" + uuid.uuid4().hex[:8]
    events = make_events(run, n_batches * per, datetime.now(UTC))
    bodies = [orjson.dumps({"events": events[k * per : (k + 1) * per]}) for k in range(n_batches)]
    result = run_load(
        lambda i: ("POST", f"/api/v1/billing/tenants/bench-metrics-{i % clients}/usage/batch", bodies[i]),
        port=server.port,
        headers={"Authorization": f"Bearer {token('service')}"},
        concurrency=clients,
        total=n_batches - clients,
        warmup=clients,
        max_seconds=120,
        ok=(200,),
    )
    return result.rate * per


def _single_rate(server: Server, quick: bool) -> tuple[float, float]:
    """Return (requests/s, p99 ms) of single-event POSTs from 16 clients over 16 tenants."""
    total = 1500 if quick else 5000
    run = "ms" + uuid.uuid4().hex[:8]
    bodies = [orjson.dumps(e) for e in make_events(run, total + 160, datetime.now(UTC))]
    result = run_load(
        lambda i: ("POST", f"/api/v1/billing/tenants/bench-metrics-single-{i % 16}/usage", bodies[i]),
        port=server.port,
        headers={"Authorization": f"Bearer {token('service')}"},
        concurrency=16,
        total=total,
        warmup=160,
        max_seconds=60,
    )
    return result.rate, result.p99_ms


def _measure(enabled: bool, quick: bool) -> dict:
    metrics_dir = tempfile.mkdtemp(prefix="bench-metrics-")
    env = {"METRICS_ENABLED": "1" if enabled else "0", "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    if not enabled:
        env.pop("PROMETHEUS_MULTIPROC_DIR")
    try:
        with Server(env=env, workers=int(os.environ.get("BENCH_WORKERS", "4"))) as server:
            batch = _batch_rate(server, quick)
            single, p99 = _single_rate(server, quick)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return {"batch": batch, "single": single, "single_p99": p99}


def _micro(enabled: bool) -> dict:
    """Return µs per in-process request (and per ingest recording) from a fresh interpreter."""
    metrics_dir = tempfile.mkdtemp(prefix="bench-metrics-micro-")
    env = {
        **os.environ,
        "METRICS_ENABLED": "1" if enabled else "0",
        "DJANGO_SETTINGS_MODULE": "billing_project.settings",
        "DATABASE_URL": db_url(),
        "LOG_LEVEL": "ERROR",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if enabled:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--micro-child"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best_of(blocks: int, n: int, fn) -> tuple[float, float]:
    """Return the smallest per-call (wall, CPU) µs of `fn` over `blocks` blocks of `n` calls: the least disturbed.

    CPU is this process's (the web side: Django, DRF, the metrics, psycopg's client work), not
    PostgreSQL's; other processes on the machine inflate it far less than wall time.
    """
    import time

    wall = cpu = float("inf")
    for _ in range(blocks):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        wall = min(wall, (time.perf_counter() - t0) / n * 1e6)
        cpu = min(cpu, (time.process_time() - c0) / n * 1e6)
    return wall, cpu


def _micro_child() -> None:
    """Print per-request times of single and batch ingest served in-process, and of one ingest recording."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.test import Client

    from billing.services.usage import IngestResult
    from billing_project.auth import issue_token
    from billing_project.observability.metrics import observe_ingest

    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {issue_token(sub='bench', role='service')}")
    run = uuid.uuid4().hex[:8]
    singles = iter(orjson.dumps(e) for e in make_events("mi" + run, 20_000, datetime.now(UTC)))
    batch_events = make_events("mb" + run, 100_000, datetime.now(UTC))
    batches = iter(orjson.dumps({"events": batch_events[k : k + 1000]}) for k in range(0, len(batch_events), 1000))

    def single():
        client.post("/api/v1/billing/tenants/bench-micro/usage", next(singles), content_type="application/json")

    def batch():
        client.post("/api/v1/billing/tenants/bench-micro/usage/batch", next(batches), content_type="application/json")

    single()
    batch()
    result = IngestResult(accepted=1, duplicates=0)
    wrapped = observe_ingest(lambda **kw: result)
    single_wall, single_cpu = _best_of(6, 150, single)
    batch_wall, batch_cpu = _best_of(6, 8, batch)
    print(
        json.dumps(
            {
                "single_us": single_wall,
                "single_cpu_us": single_cpu,
                "batch_us": batch_wall,
                "batch_cpu_us": batch_cpu,
                "ingest_record_us": _best_of(5, 5000, lambda: wrapped(events=[{}], batch=False))[1],
            }
        )
    )


def _spread(values: list[float]) -> str:
    return f"{(max(values) - min(values)) / statistics.median(values):.0%}" if len(values) > 1 else "—"


def main(quick: bool = False, rounds: int | None = None) -> dict:
    """Return the medians of each measure with metrics on and off, and the relative cost of "on"."""
    rounds = rounds or (2 if quick else 3)
    say(f"== bench/metrics_cost ({'quick' if quick else 'full'}, {rounds} rounds, alternating on/off) ==")
    bench_db()
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for r in range(rounds):
        for enabled in (True, False) if r % 2 == 0 else (False, True):
            got = _measure(enabled, quick)
            runs[enabled].append(got)
            say(
                f"round {r + 1} metrics {'on ' if enabled else 'off'}: batch {got['batch']:,.0f} events/s, "
                f"single {got['single']:,.0f}/s (p99 {got['single_p99']:.1f} ms)"
            )
    out: dict = {}
    say("| measure | metrics on | metrics off | on vs off | spread of rounds (on / off) |")
    say("|---|---|---|---|---|")
    for key, unit in (("batch", "events/s"), ("single", "req/s")):
        on = [x[key] for x in runs[True]]
        off = [x[key] for x in runs[False]]
        cost = statistics.median(on) / statistics.median(off) - 1
        out[key] = {"on": statistics.median(on), "off": statistics.median(off), "change": cost}
        verdict = "within 5 %" if cost >= -GOAL else "MORE than 5 % slower"
        say(
            f"| {key} ingest | {statistics.median(on):,.0f} {unit} | {statistics.median(off):,.0f} {unit} "
            f"| {cost:+.1%} ({verdict}) | {_spread(on)} / {_spread(off)} |"
        )
    micro = {True: [], False: []}
    for r in range(rounds):
        for enabled in (True, False) if r % 2 == 0 else (False, True):
            micro[enabled].append(_micro(enabled))
    say("in-process, one client, best of several blocks (what the server does per request, no queueing):")
    for key, what in (
        ("single_us", "single-event POST, wall"),
        ("single_cpu_us", "single-event POST, web-process CPU"),
        ("batch_us", "1,000-event batch POST, wall"),
        ("batch_cpu_us", "1,000-event batch POST, web-process CPU"),
    ):
        on = min(x[key] for x in micro[True])
        off = min(x[key] for x in micro[False])
        out[key] = {"on": on, "off": off, "change": on / off - 1}
        say(f"| {what} | {on:,.0f} µs | {off:,.0f} µs | {on / off - 1:+.1%} |")
    recording = min(x["ingest_record_us"] for x in micro[True]) - min(x["ingest_record_us"] for x in micro[False])
    out["ingest_record_us_added"] = recording
    say(f"recording one ingest call (counters and histograms, multiprocess files): {recording:.1f} µs")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--micro-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.micro_child:
        _micro_child()
    else:
        main(quick=args.quick, rounds=args.rounds)
