"""Benchmark: the real-time cost endpoints for a tenant with 10 million events this month.

Target (issue 8): p99 ≤ 50 ms for `current`, `by-resource` and `timeline` (hour and day), all read
from the rollups. Reuses the preview bench's tenant (`bench-big`, subscription on "pro" anchored on
the 1st of the month, so its current period holds every loaded event): 70 % api_calls, 15 % jobs,
5 % storage_gb, 10 % active_users (1,000 users) over 50 resources.

    .venv/bin/python bench/realtime.py [--quick] [--events N] [--requests N] [--seconds S]

Everything talks to 127.0.0.1 only and every loop is bounded in count and in time.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Client, Server, bench_db, ensure_big_tenant, latency, latency_cli, say, token  # noqa: E402
from bench.preview import TENANT, ensure_subscription  # noqa: E402

TARGET_P99_MS = 50.0
ENDPOINTS = {
    "current": "current",
    "by-resource": "by-resource",
    "timeline-day": "timeline?granularity=day",
    "timeline-hour": "timeline?granularity=hour",
}


def _check_consistency(port: int, headers: dict, tenant: str) -> str:
    """Return a one-line summary after checking by-resource and timeline add up to current's usage."""
    client = Client(port, headers)
    try:
        base = f"/api/v1/billing/realtime-cost/tenants/{tenant}/"
        bodies = {}
        for name, suffix in ENDPOINTS.items():
            status, body = client.request("GET", base + suffix)
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {body[:500]!r}")
            bodies[name] = json.loads(body)
    finally:
        client.close()
    usage = Decimal(bodies["current"]["usage"])
    by_resource = sum(Decimal(r["amount"]) for r in bodies["by-resource"]["results"])
    # Events keep arriving in no bench, so the three reads see the same usage unless the hour turned.
    hour_last = Decimal(bodies["timeline-hour"]["results"][-1]["cumulative_amount"])
    return (
        f"usage {usage} USD; by-resource parts sum {by_resource} ({len(bodies['by-resource']['results'])} rows); "
        f"hourly timeline ends at {hour_last} ({len(bodies['timeline-hour']['results'])} buckets)"
    )


def main(
    quick: bool = False,
    *,
    events: int | None = None,
    requests: int | None = None,
    seconds: float = 60.0,
    tenant: str = TENANT,
) -> dict:
    """Run the benchmark and return its figures (p50/p99 in ms per endpoint, target met or not).

    `quick` loads 1 million events and times fewer requests (the target is stated for 10 million).
    """
    n_events = events or (1_000_000 if quick else 10_000_000)
    n_requests = requests or (100 if quick else 400)
    bench_db()
    facts = ensure_big_tenant(tenant, n_events=n_events)
    headers = {"Authorization": f"Bearer {token('finance')}"}
    results = {}
    with Server(workers=2) as server:
        sub = ensure_subscription(server.port, headers, tenant)
        say(
            f"tenant {tenant}: {facts['events']:,} events this month, subscription on {sub['plan_id']} "
            f"[{sub['current_period_start']}, {sub['current_period_end']})"
        )
        say(_check_consistency(server.port, headers, tenant))
        for name, suffix in ENDPOINTS.items():
            path = f"/api/v1/billing/realtime-cost/tenants/{tenant}/{suffix}"
            r = latency(path, port=server.port, headers=headers, n=n_requests, max_seconds=seconds, warmup=10)
            say(f"{name:14s} {r.line()}")
            results[name] = {
                "p50_ms": round(r.p50_ms, 2),
                "p99_ms": round(r.p99_ms, 2),
                "requests": r.requests,
                "errors": r.errors,
            }
    met = all(v["p99_ms"] <= TARGET_P99_MS and v["errors"] == 0 for v in results.values())
    worst = max(results, key=lambda k: results[k]["p99_ms"])
    say(
        f"real-time cost worst p99 {results[worst]['p99_ms']:.1f} ms ({worst}; target ≤ {TARGET_P99_MS:.0f} ms): "
        f"{'met' if met else 'NOT met'}"
    )
    return {"events": facts["events"], **results, "target_p99_ms": TARGET_P99_MS, "met": met}


def cli() -> int:
    return latency_cli(main, __doc__.splitlines()[0], TENANT)


if __name__ == "__main__":
    sys.exit(cli())
