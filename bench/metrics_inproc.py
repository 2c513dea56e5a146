"""The in-process view of bench/metrics_cost.py: requests served by Django's test Client, no server.

Each side (metrics on, off) runs in a fresh interpreter (the switch is read when settings load);
the sides alternate over several rounds, and each child reports the web process's CPU time per
request (time.process_time: Django, DRF, the metrics, psycopg's client work; PostgreSQL's work is
in its backend, not here) as the best of several blocks, the least disturbed.

`--instructions` adds the count that no other process can disturb: the instructions one request
executes in the web process, metrics on vs off, counted by valgrind's callgrind (see
`instructions()`; a few minutes, more on a busy machine).

    .venv/bin/python bench/metrics_inproc.py [--rounds N] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_db, db_url, say  # noqa: E402
from bench.ingest import make_events  # noqa: E402

# callgrind: requests measured, and the warm-up (singles, batches) every run serves first
INSTR_SINGLES, INSTR_BATCHES, INSTR_WARM = 100, 8, (20, 2)
MEASURES = (
    ("single_cpu_us", "single-event POST, web-process CPU per request"),
    ("batch_cpu_us", "1,000-event batch POST, web-process CPU per request"),
    ("ingest_record_us", "recording one ingest call (the service wrapper alone)"),
)


def _child_env(enabled: bool, metrics_dir: str) -> dict:
    """Return the environment of a child serving with metrics on (files in `metrics_dir`) or off."""
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
    return env


def _run_child(enabled: bool, child_args: list[str], callgrind: bool = False) -> subprocess.CompletedProcess:
    """Run this file with `child_args` in a fresh interpreter, metrics on or off (under callgrind if asked)."""
    metrics_dir = tempfile.mkdtemp(prefix="bench-metrics-inproc-")
    env = _child_env(enabled, metrics_dir)
    command = [sys.executable, str(Path(__file__).resolve()), *child_args]
    if callgrind:
        env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")  # the same start-up in both runs
        command = ["valgrind", "--tool=callgrind", "--cache-sim=no", "--callgrind-out-file=/dev/null", *command]
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600, check=True)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _child_run(enabled: bool) -> dict:
    """Return the child's figures for one side, from a fresh interpreter."""
    out = _run_child(enabled, ["--child"])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _best_cpu_us(blocks: int, n: int, fn) -> float:
    """Return the smallest per-call CPU µs of `fn` over `blocks` blocks of `n` calls."""
    best = float("inf")
    for _ in range(blocks):
        c0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - c0) / n * 1e6)
    return best


def _child() -> None:
    """Print the per-request CPU of single and batch ingest served in-process, and of one ingest recording."""
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
    figures = {
        "single_cpu_us": _best_cpu_us(6, 150, single),
        "batch_cpu_us": _best_cpu_us(6, 8, batch),
        "ingest_record_us": _best_cpu_us(5, 5000, lambda: wrapped(events=[{}], batch=False)),
    }
    print(json.dumps(figures))


def _serve_child(singles: int, batches: int) -> None:
    """Serve a warm-up, then `singles` single-event and `batches` batch POSTs in-process (run under callgrind).

    The bodies made beforehand are the same whatever the counts, and the tenant is this run's own
    (no lock waits or retries against another run), so two runs differ by the extra requests only.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.test import Client

    from billing_project.auth import issue_token

    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {issue_token(sub='bench', role='service')}")
    run, now = uuid.uuid4().hex[:10], datetime.now(UTC)
    base = f"/api/v1/billing/tenants/bench-instr-{run}/usage"
    single_bodies = [orjson.dumps(e) for e in make_events("s" + run, INSTR_SINGLES + INSTR_WARM[0], now)]
    events = make_events("b" + run, (INSTR_BATCHES + INSTR_WARM[1]) * 1000, now)
    batch_bodies = [orjson.dumps({"events": events[k : k + 1000]}) for k in range(0, len(events), 1000)]
    for path, bodies, n in (
        (base, single_bodies[: INSTR_WARM[0]], INSTR_WARM[0]),
        (base + "/batch", batch_bodies[: INSTR_WARM[1]], INSTR_WARM[1]),
        (base, single_bodies[INSTR_WARM[0] :], singles),
        (base + "/batch", batch_bodies[INSTR_WARM[1] :], batches),
    ):
        for body in bodies[:n]:
            response = client.post(path, body, content_type="application/json")
            assert response.status_code in (200, 201), response.content[:300]


def _instructions(enabled: bool, singles: int, batches: int) -> int:
    """Return the instructions callgrind counts for a child serving the warm-up and the given requests."""
    done = _run_child(enabled, ["--serve", str(singles), str(batches)], callgrind=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if not found:
        raise RuntimeError("callgrind gave no count:\n" + done.stderr[-1500:])
    return int(found.group(1))


def instructions() -> dict:
    """Return {kind: {on, off, ratio}}: instructions per request, metrics on vs off, counted by callgrind.

    For each side, three runs: the warm-up alone, then with 100 single-event POSTs, then with 8
    batch POSTs; a run's excess over the first, divided by its requests, is the per-request count
    (start-up and warm-up excluded). Deterministic to a fraction of a per cent whatever else the
    machine runs; needs valgrind. Two runs at a time.
    """
    plans = [(e, s, b) for e in (True, False) for s, b in ((0, 0), (INSTR_SINGLES, 0), (0, INSTR_BATCHES))]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(plans, pool.map(lambda p: _instructions(*p), plans), strict=True))
    out: dict = {}
    say("instructions per request (callgrind, in-process; the web process only):")
    say("| request | metrics on | metrics off | on / off |")
    say("|---|---|---|---|")
    for kind, plan, n in (("single", (INSTR_SINGLES, 0), INSTR_SINGLES), ("batch", (0, INSTR_BATCHES), INSTR_BATCHES)):
        per = {e: (counts[(e, *plan)] - counts[(e, 0, 0)]) / n for e in (True, False)}
        out[kind] = {"on": per[True], "off": per[False], "ratio": per[True] / per[False]}
        what = "single-event POST" if kind == "single" else "1,000-event batch POST"
        say(f"| {what} | {per[True] / 1e6:,.3f} M | {per[False] / 1e6:,.3f} M | {per[True] / per[False]:.3f} |")
    return out


def compare(rounds: int) -> dict:
    """Return {measure: {on, off, ratios}} over `rounds` alternating pairs of fresh interpreters."""
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for r in range(rounds):
        for enabled in (True, False) if r % 2 == 0 else (False, True):
            runs[enabled].append(_child_run(enabled))
    out: dict = {}
    say("in-process (Django test Client, one request at a time; web-process CPU, best of several blocks):")
    say("| measure | metrics on | metrics off | on / off (median of pairs) | range of pairs |")
    say("|---|---|---|---|---|")
    for key, what in MEASURES:
        on = [x[key] for x in runs[True]]
        off = [x[key] for x in runs[False]]
        if key == "ingest_record_us":
            added = min(on) - min(off)
            out[key] = {"on": min(on), "off": min(off), "added_us": added}
            say(f"| {what} | {min(on):,.1f} µs | {min(off):,.1f} µs | +{added:.1f} µs | |")
            continue
        ratios = [a / b for a, b in zip(on, off, strict=True)]
        out[key] = {"on": statistics.median(on), "off": statistics.median(off), "ratios": ratios}
        say(
            f"| {what} | {statistics.median(on):,.0f} µs | {statistics.median(off):,.0f} µs "
            f"| {statistics.median(ratios):.3f} | {min(ratios):.3f}–{max(ratios):.3f} |"
        )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, metavar=("SINGLES", "BATCHES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child()
    elif args.serve:
        _serve_child(int(args.serve[0]), int(args.serve[1]))
    else:
        bench_db()
        compare(args.rounds)
        if args.instructions:
            instructions()
