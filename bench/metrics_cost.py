"""What the metrics cost on the ingest hot path: batch and single ingest, metrics on vs off (issue 18).

    .venv/bin/python bench/metrics_cost.py [--quick] [--rounds N] [--no-inproc]

The switch is METRICS_ENABLED: "on" is a gunicorn server as production runs it (django-prometheus
middleware, our counters and histograms, multiprocess files in a fresh PROMETHEUS_MULTIPROC_DIR);
"off" is METRICS_ENABLED=0 (none of those). Both servers run side by side against the bench
database, and many short loads alternate between them (on, off / off, on, … so neither side is
always first). The cost is measured as **CPU time per unit of work** on the server side: the
gunicorn master and workers (read from /proc, see bench/cputime.py) and, separately, the
PostgreSQL backends serving them, per 1,000 batch events and per single-event request. Each
round gives one on/off ratio; the figure is the median of those paired ratios, with their range.
CPU per unit of work hardly moves when other processes compete for the cores, unlike throughput,
which is reported beside it. The goal: the median paired ratio at most 1.05 for batch and single.

Then, unless --no-inproc, the in-process view (bench/metrics_inproc.py): the same requests served
by Django's test Client in fresh interpreters, web-process CPU per request; and, in a full run
(or with --instructions) when valgrind is installed, the instructions per request counted by
callgrind, which no other process can disturb.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import metrics_inproc  # noqa: E402
from bench.common import Server, bench_db, connect, db_url, run_load, say, token  # noqa: E402
from bench.cputime import CpuMeter, CpuUse, machine_busy  # noqa: E402
from bench.ingest import make_events  # noqa: E402

GOAL = 1.05
# (batches of 1,000 events per load, clients) and (single-event requests per load, clients)
BATCH_LOAD = {True: (8, 4), False: (12, 4)}
SINGLE_LOAD = {True: (300, 8), False: (400, 8)}


@dataclass
class Sample:
    """One measured load on one server: the work done, the CPU it took and how fast it went."""

    units: int  # events (batch) or requests (single)
    cpu: CpuUse
    rate: float  # units per second of wall time

    def web_per(self, per: int) -> float:
        return self.cpu.web * 1000 / self.units * per  # CPU-ms per `per` units

    def all_per(self, per: int) -> float:
        return self.cpu.total * 1000 / self.units * per


@contextlib.contextmanager
def _server(enabled: bool):
    """Yield (Server, CpuMeter) for a gunicorn with metrics on or off; its backends are named after it."""
    name = f"bench-metrics-{'on' if enabled else 'off'}-{uuid.uuid4().hex[:6]}"
    env = {"METRICS_ENABLED": "1" if enabled else "0", "DATABASE_URL": f"{db_url()}?application_name={name}"}
    metrics_dir = tempfile.mkdtemp(prefix="bench-metrics-")
    if enabled:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        with Server(env=env, workers=int(os.environ.get("BENCH_WORKERS", "4"))) as server, connect() as conn:
            assert server.proc is not None
            yield server, CpuMeter(server.proc.pid, name, conn)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _load(kind: str, server: Server, meter: CpuMeter | None, quick: bool) -> Sample:
    """Run one batch or single-event load on `server` (measured when `meter` is given)."""
    run = uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    if kind == "batch":
        n, clients = BATCH_LOAD[quick]
        events = make_events("mb" + run, n * 1000, now)
        bodies = [orjson.dumps({"events": events[k * 1000 : (k + 1) * 1000]}) for k in range(n)]
        path, ok, per_request = "/api/v1/billing/tenants/bench-metrics-{}/usage/batch", (200,), 1000
    else:
        n, clients = SINGLE_LOAD[quick]
        bodies = [orjson.dumps(e) for e in make_events("ms" + run, n, now)]
        path, ok, per_request = "/api/v1/billing/tenants/bench-metrics-single-{}/usage", (200, 201), 1
    before = meter.snapshot() if meter else None
    result = run_load(
        lambda i: ("POST", path.format(i % clients), bodies[i]),
        port=server.port,
        headers={"Authorization": f"Bearer {token('service')}"},
        concurrency=clients,
        total=n,
        max_seconds=300,
        ok=ok,
    )
    cpu = CpuMeter.used(before, meter.snapshot()) if meter and before else CpuUse(0.0, 0.0)
    if result.errors or result.requests != n:
        raise RuntimeError(f"{kind} load: {result.requests}/{n} requests, statuses {result.statuses}")
    return Sample(units=n * per_request, cpu=cpu, rate=result.rate * per_request)


def _rounds(quick: bool, rounds: int) -> dict[str, dict[bool, list[Sample]]]:
    """Serve both sides at once and alternate short measured loads between them."""
    samples: dict[str, dict[bool, list[Sample]]] = {k: {True: [], False: []} for k in ("batch", "single")}
    with _server(True) as on, _server(False) as off:
        sides = {True: on, False: off}
        for server, _ in sides.values():  # warm up: imports, connections, caches
            for kind in ("batch", "single"):
                _load(kind, server, None, quick)
        for r in range(rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for kind in ("batch", "single"):
                for enabled in order:
                    samples[kind][enabled].append(_load(kind, *sides[enabled], quick))
            b, s = ([x[-1] for x in (samples[k][True], samples[k][False])] for k in ("batch", "single"))
            say(
                f"round {r + 1}/{rounds}: web CPU per 1,000 batch events {b[0].web_per(1000):.1f} / "
                f"{b[1].web_per(1000):.1f} ms, per single request {s[0].web_per(1):.2f} / {s[1].web_per(1):.2f} ms "
                f"(on / off); load average {os.getloadavg()[0]:.1f}"
            )
    return samples


def _ratios(on: list[float], off: list[float]) -> list[float]:
    return [a / b for a, b in zip(on, off, strict=True)]


def _report(samples: dict[str, dict[bool, list[Sample]]]) -> dict:
    """Print the table of medians and paired ratios; return the figures."""
    out: dict = {}
    say("| measure | metrics on | metrics off | on / off: median of paired ratios | range of the ratios |")
    say("|---|---|---|---|---|")
    rows = (
        ("batch", "web CPU per 1,000 events", lambda x: x.web_per(1000), "ms"),
        ("batch", "web + PostgreSQL CPU per 1,000 events", lambda x: x.all_per(1000), "ms"),
        ("batch", "throughput", lambda x: x.rate, "events/s"),
        ("single", "web CPU per request", lambda x: x.web_per(1), "ms"),
        ("single", "web + PostgreSQL CPU per request", lambda x: x.all_per(1), "ms"),
        ("single", "throughput", lambda x: x.rate, "req/s"),
    )
    for kind, what, value, unit in rows:
        on = [value(x) for x in samples[kind][True]]
        off = [value(x) for x in samples[kind][False]]
        ratios = _ratios(on, off)
        med = statistics.median(ratios)
        q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), med, max(ratios)]
        out[f"{kind} {what}"] = {"on": statistics.median(on), "off": statistics.median(off), "ratio": med}
        fmt = "{:,.0f} " if unit in ("events/s", "req/s") else "{:,.2f} "
        on_text, off_text = fmt.format(statistics.median(on)) + unit, fmt.format(statistics.median(off)) + unit
        say(
            f"| {kind}: {what} | {on_text} | {off_text} "
            f"| {med:.3f} | {min(ratios):.3f}–{max(ratios):.3f} (quartiles {q[0]:.3f}–{q[2]:.3f}) |"
        )
    for kind in ("batch", "single"):
        med = out[f"{kind} web CPU per {'1,000 events' if kind == 'batch' else 'request'}"]["ratio"]
        verdict = "goal met" if med <= GOAL else "goal NOT met"
        say(f"{kind}: metrics on cost {med - 1:+.1%} web CPU per unit of work ({verdict}: at most {GOAL - 1:.0%})")
    return out


def main(quick: bool = False, rounds: int | None = None, inproc: bool = True, instructions: bool | None = None) -> dict:
    """Return the CPU-per-unit and throughput figures of metrics on vs off (and the in-process views).

    `instructions`: count them with callgrind (default: in a full run, when valgrind is installed).
    """
    rounds = rounds or (6 if quick else 16)
    say(f"== bench/metrics_cost ({'quick' if quick else 'full'}: {rounds} rounds, both servers up, loads alternate) ==")
    bench_db()
    load0, busy0 = os.getloadavg()[0], machine_busy()
    samples = _rounds(quick, rounds)
    busy1 = machine_busy()
    cores = os.cpu_count() or 1
    say(
        f"machine: {cores} cores, load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
        f"all CPUs {(busy1[0] - busy0[0]) / (busy1[1] - busy0[1]):.0%} busy during the rounds (this bench included)"
    )
    out = _report(samples)
    if inproc:
        out["inproc"] = metrics_inproc.compare(2 if quick else 3)
        if instructions is None:
            instructions = not quick
        if instructions and shutil.which("valgrind"):
            out["instructions"] = metrics_inproc.instructions()
        elif instructions:
            say("instructions per request: skipped (valgrind is not installed)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller loads, 6 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-inproc", action="store_true", help="skip the in-process views")
    parser.add_argument("--instructions", action="store_true", help="count instructions even in a quick run")
    args = parser.parse_args()
    main(quick=args.quick, rounds=args.rounds, inproc=not args.no_inproc, instructions=args.instructions or None)
