"""The tails bench's in-process half: each read endpoint's view called in this process, no HTTP, no middleware.

Per call: wall time (`perf_counter`), this process's CPU (`process_time`), the garbage collector's
pauses (`gc.callbacks`), the time spent in SQL (a connection execute wrapper) and the database
backend's CPU (its /proc schedstat). What varies here is the code's own work; what varies only
over HTTP is the server's or the machine's.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field

from bench.common import db_url, percentile


@dataclass
class Calls:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    gc_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    db_cpu: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)


class _GcClock:
    """Milliseconds spent in collections since the last `take()`, and the oldest generation collected."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.gen = -1
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._t0) * 1000
            self.gen = max(self.gen, info["generation"])

    def take(self) -> float:
        ms, self.ms, self.gen = self.ms, 0.0, -1
        return ms


def _backend_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def run_views(paths: dict[str, str], headers: dict, n: int, warmup: int = 10, freeze: bool = True) -> dict:
    """Return per-endpoint percentiles of `n` in-process calls of each path's view (after `warmup` calls).

    `freeze` freezes the loaded app out of the collector first, as each gunicorn worker does.
    """
    os.environ["DATABASE_URL"] = db_url()  # unless Django is set up already (bench.common.token)
    os.environ.setdefault("DEBUG", "0")  # as the served API (DEBUG would keep every query)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import RequestFactory
    from django.urls import resolve

    from billing_project.gc_tuning import freeze_loaded_app

    if freeze:
        freeze_loaded_app()
    factory = RequestFactory()
    sql = {"ms": 0.0, "n": 0}

    def wrapper(execute, query, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql["ms"] += (time.perf_counter() - t0) * 1000
            sql["n"] += 1

    clock = _GcClock()
    gc.callbacks.append(clock)
    calls = {name: Calls() for name in paths}
    try:
        with connection.execute_wrapper(wrapper):
            for i in range(warmup + n):
                for name, path in paths.items():
                    url, _, query = path.partition("?")
                    match = resolve(url)
                    request = factory.get(path, **{f"HTTP_{k.upper()}": v for k, v in headers.items()})
                    connection.ensure_connection()
                    backend = connection.connection.info.backend_pid
                    sql["ms"], sql["n"] = 0.0, 0
                    clock.take()
                    db0, c0, t0 = _backend_ns(backend), time.process_time(), time.perf_counter()
                    response = match.func(request, *match.args, **match.kwargs)
                    response.render()
                    wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
                    db_cpu = (_backend_ns(backend) - db0) / 1e6
                    if response.status_code != 200:
                        raise RuntimeError(f"{name} answered {response.status_code}: {response.content[:300]!r}")
                    if i < warmup:
                        continue
                    c = calls[name]
                    c.wall.append(wall)
                    c.cpu.append(cpu)
                    c.gc_ms.append(clock.take())
                    c.sql_ms.append(sql["ms"])
                    c.db_cpu.append(db_cpu)
                    c.queries.append(sql["n"])
    finally:
        gc.callbacks.remove(clock)
    return {name: _figures(c) for name, c in calls.items()}


def _figures(c: Calls) -> dict:
    p = percentile
    return {
        "wall_p50": p(c.wall, 50),
        "wall_p99": p(c.wall, 99),
        "cpu_p50": p(c.cpu, 50),
        "cpu_p99": p(c.cpu, 99),
        "db_cpu_p50": p(c.db_cpu, 50),
        "db_cpu_p99": p(c.db_cpu, 99),
        "sql_p50": p(c.sql_ms, 50),
        "sql_p99": p(c.sql_ms, 99),
        "gc_max": max(c.gc_ms, default=0.0),
        "gc_calls": sum(1 for x in c.gc_ms if x > 0),
        "queries": (min(c.queries, default=0), max(c.queries, default=0)),
    }


def report(results: dict, say) -> None:
    say(
        f"in process  {'wall p50':>8s} {'p99':>6s} | {'CPU p50':>7s} {'p99':>6s} | {'db CPU p50':>10s} {'p99':>6s} | "
        f"{'SQL p50':>7s} {'p99':>6s} | gc max (calls) | queries"
    )
    for name, r in results.items():
        say(
            f"{name:12s} {r['wall_p50']:8.1f} {r['wall_p99']:6.1f} | {r['cpu_p50']:7.1f} {r['cpu_p99']:6.1f} | "
            f"{r['db_cpu_p50']:10.1f} {r['db_cpu_p99']:6.1f} | {r['sql_p50']:7.1f} {r['sql_p99']:6.1f} | "
            f"{r['gc_max']:6.1f} ({r['gc_calls']:3d})  | {r['queries'][0]}–{r['queries'][1]}"
        )
