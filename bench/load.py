"""Benchmark: a fixed-rate mixed load for a set duration, the way a day of traffic looks.

Requests are scheduled open-loop at `--rate` per second for `--seconds` (request i is due at
t0 + i/rate, whatever the previous answers took), spread over a small pool of keep-alive clients,
in this mix: single usage events 40 %, batches of 100 events 10 %, usage summaries 20 %, billing
previews 15 %, invoice reads 15 %. Every usage request carries an Idempotency-Key and is retried
(bounded) until acknowledged, so at the end "events acknowledged" must equal "events stored".

Reports throughput, p50/p99 per endpoint, errors and late starts, and acknowledged vs stored.

    .venv/bin/python bench/load.py [--quick] [--rate R] [--seconds S] [--tenants N]

Everything talks to 127.0.0.1 only; the run is bounded in count (rate x seconds) and in time.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Client, Server, bench_db, connect, percentile, say, token  # noqa: E402

MIX = [("usage", 40), ("usage_batch", 10), ("summary", 20), ("preview", 15), ("invoices", 15)]
BATCH = 100
RETRIES = 5


def setup(tenants: list[str], fin: str, port: int) -> None:
    """Give each tenant a subscription (idempotent: a second run finds it live)."""
    client = Client(port, {"Authorization": f"Bearer {fin}"})
    try:
        for tenant in tenants:
            status, body = client.request("GET", f"/api/v1/billing/tenants/{tenant}/subscription")
            if status == 404:
                status, body = client.request(
                    "POST", f"/api/v1/billing/tenants/{tenant}/subscriptions", json.dumps({"plan_id": "pro"}).encode()
                )
                assert status == 201, body[:300]
    finally:
        client.close()


def request_for(kind: str, tenant: str, run: str, i: int) -> tuple[str, str, bytes | None, int]:
    """Return (method, path, body, events in it) of the i-th request of `kind`."""
    base = f"/api/v1/billing/tenants/{tenant}"
    if kind == "usage":
        event = {"event_id": f"{run}-{i}", "metric": "api_calls", "quantity": "1"}
        return "POST", f"{base}/usage", json.dumps(event).encode(), 1
    if kind == "usage_batch":
        events = [{"event_id": f"{run}-{i}-{k}", "metric": "api_calls", "quantity": "2"} for k in range(BATCH)]
        return "POST", f"{base}/usage/batch", json.dumps({"events": events}).encode(), BATCH
    if kind == "summary":
        return "GET", f"{base}/usage/summary?group_by=metric", None, 0
    if kind == "preview":
        return "GET", f"{base}/billing/preview", None, 0
    return "GET", f"{base}/invoices?limit=20", None, 0


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.acked = 0
        self.late = 0


def send(client: Client, stats: Stats, kind: str, req: tuple) -> None:
    method, path, body, events = req
    key = str(uuid.uuid4())
    client.headers["Idempotency-Key"] = key
    for attempt in range(RETRIES):
        t0 = time.perf_counter()
        try:
            status, _ = client.request(method, path, body)
        except OSError:
            status = 0
        dt = time.perf_counter() - t0
        with stats.lock:
            stats.latency[kind].append(dt * 1000)
            if status not in (200, 201):
                stats.errors[kind] += 1
            elif events:
                stats.acked += events
        if status in (200, 201) or method == "GET" or status in (400, 403, 404, 409):
            return
        time.sleep(0.2 * (attempt + 1))  # 429/5xx/network: the same key again, as a client would


def run(rate: float, seconds: float, tenants: list[str], port: int, svc: str, fin: str) -> Stats:
    run_id = f"load-{uuid.uuid4().hex[:8]}"
    total = int(rate * seconds)
    kinds = [k for k, w in MIX for _ in range(w)]
    rnd = random.Random(7)
    plan = [(rnd.choice(kinds), rnd.choice(tenants)) for _ in range(total)]
    stats = Stats()
    counter = iter(range(total))
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.5
    deadline = t0 + seconds + 30  # bounded: stragglers are cut off

    def worker():
        clients = {
            "svc": Client(port, {"Authorization": f"Bearer {svc}"}),
            "fin": Client(port, {"Authorization": f"Bearer {fin}"}),
        }
        try:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                due = t0 + i / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    with stats.lock:
                        stats.late += 1
                kind, tenant = plan[i]
                client = clients["svc" if kind.startswith("usage") else "fin"]
                send(client, stats, kind, request_for(kind, tenant, run_id, i))
        finally:
            for c in clients.values():
                c.close()

    pool = min(64, max(8, int(rate // 2)))  # open loop: enough clients that slow answers do not delay the next
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(pool)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    stats.run_id = run_id  # type: ignore[attr-defined]
    stats.elapsed = time.perf_counter() - t0  # type: ignore[attr-defined]
    return stats


def stored_events(run_id: str) -> int:
    with connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM billing_usageevent WHERE event_id LIKE %s", (f"{run_id}-%",)
        ).fetchone()[0]


def report(stats: Stats, rate: float, seconds: float) -> dict:
    stored = stored_events(stats.run_id)  # type: ignore[attr-defined]
    total = sum(len(v) for v in stats.latency.values())
    say(f"fixed-rate mixed load: {rate:.0f} req/s scheduled for {seconds:.0f} s")
    elapsed = stats.elapsed  # type: ignore[attr-defined]
    say(f"  {total} requests in {elapsed:.1f} s = {total / elapsed:,.1f} req/s; {stats.late} started late")
    for kind, _ in MIX:
        ms = stats.latency.get(kind, [])
        p50, p99, errors = percentile(ms, 50), percentile(ms, 99), stats.errors.get(kind, 0)
        say(f"  {kind:<12} {len(ms):>6} req  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  errors {errors}")
    say(f"  events acknowledged {stats.acked}, stored {stored}: {'equal' if stored == stats.acked else 'DIFFERENT'}")
    return {"requests": total, "acked": stats.acked, "stored": stored, "errors": sum(stats.errors.values())}


def main(quick: bool = False, argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=None, help="requests per second (default 80, quick 30)")
    parser.add_argument("--seconds", type=float, default=None, help="duration (default 60, quick 10)")
    parser.add_argument("--tenants", type=int, default=5)
    a = parser.parse_args(argv if argv is not None else [])
    quick = quick or a.quick
    rate = a.rate or (30.0 if quick else 80.0)
    seconds = min(a.seconds or (10.0 if quick else 60.0), 600.0)
    bench_db()
    tenants = [f"load-{n}" for n in range(a.tenants)]
    with Server(workers=4) as server:
        fin, svc = token("finance"), token("service", sub="load-service")
        setup(tenants, fin, server.port)
        stats = run(rate, seconds, tenants, server.port, svc, fin)
    result = report(stats, rate, seconds)
    return result


if __name__ == "__main__":
    outcome = main(argv=sys.argv[1:])
    sys.exit(0 if outcome["acked"] == outcome["stored"] and not outcome["errors"] else 1)
