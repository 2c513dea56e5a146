"""Benchmark: the event outbox under batch ingestion with quota events on, and webhook deliveries per second.

    .venv/bin/python bench/events.py [--quick]

1. Batch ingestion through the served API (1,000-event batches, 4 clients, spread over tenants)
   twice: tenants without quotas, then tenants whose soft quotas get crossed during the run (so
   every batch measures its quotas inside the ingest transaction and the crossings write
   quota.warning / quota.exceeded events). Reports usage events/s both ways and the outbox events
   written per second.
2. Webhook deliveries to a local receiver (127.0.0.1, answers 200): N events recorded in one
   transaction, fanned out by the dispatcher, then sent signed, one process sequentially and with
   4 sender threads (as a Celery worker with 4 threads would). Reports deliveries/s.
Runs on the `billing_bench` database; talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PY, ROOT, Server, bench_db, connect, db_url, run_load, say, token  # noqa: E402

BATCH = 1000


def _batches(run: str, tenants: list[str], n_batches: int) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = []
    for b in range(n_batches):
        tenant = tenants[b % len(tenants)]
        events = [
            {"event_id": f"{run}-{b}-{i}", "metric": "api_calls", "quantity": "1", "timestamp": now}
            for i in range(BATCH)
        ]
        out.append((tenant, orjson.dumps({"events": events})))
    return out


def _ingest(server: Server, bodies: list[tuple[str, bytes]], seconds: float):
    headers = {"Authorization": f"Bearer {token('service')}"}
    return run_load(
        lambda i: ("POST", f"/api/v1/billing/tenants/{bodies[i][0]}/usage/batch", bodies[i][1]),
        port=server.port,
        headers=headers,
        concurrency=4,
        total=len(bodies),
        max_seconds=seconds,
    )


def bench_ingest(quick: bool) -> dict:
    n_tenants, n_batches = (8, 24) if quick else (16, 96)
    per_tenant = n_batches // n_tenants * BATCH
    run = "ev" + uuid.uuid4().hex[:8]
    plain = [f"{run}-plain-{i}" for i in range(n_tenants)]
    quota = [f"{run}-quota-{i}" for i in range(n_tenants)]
    finance = {"Authorization": f"Bearer {token('finance')}", "Content-Type": "application/json"}
    with Server(workers=4) as server:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for tenant in quota:
            limit = per_tenant * 5 // 6  # warning (80 %) one batch before the limit, exceeded at the last batches
            body = {"tenant_id": tenant, "metric": "api_calls", "limit": str(limit), "period": "day"}
            conn.request("POST", "/api/v1/billing/quotas", body=json.dumps(body), headers=finance)
            response = conn.getresponse()
            if response.status != 201:
                raise RuntimeError(f"quota not created: {response.status} {response.read()[:300]!r}")
            response.read()
        conn.close()
        off = _ingest(server, _batches(run + "p", plain, n_batches), 120)
        t0 = time.perf_counter()
        on = _ingest(server, _batches(run + "q", quota, n_batches), 120)
        seconds = time.perf_counter() - t0
    with connect() as conn:
        written = conn.execute(
            "SELECT count(*) FROM notifications_event WHERE tenant_id LIKE %s", (f"{run}-quota-%",)
        ).fetchone()[0]
    result = {
        "ingest_events_per_s_without_quotas": off.rate * BATCH,
        "ingest_events_per_s_with_quota_events": on.rate * BATCH,
        "p99_ms_without": off.p99_ms,
        "p99_ms_with": on.p99_ms,
        "outbox_events_written": written,
        "outbox_events_per_s": written / seconds if seconds else 0.0,
        "errors": off.errors + on.errors,
    }
    say(
        f"batch ingest, 4 clients: {result['ingest_events_per_s_without_quotas']:,.0f} usage events/s without "
        f"quotas, {result['ingest_events_per_s_with_quota_events']:,.0f}/s with quota events on (p99 "
        f"{off.p99_ms:.0f} → {on.p99_ms:.0f} ms); {written} quota events written "
        f"({result['outbox_events_per_s']:.1f}/s: one per crossing, {n_tenants} tenants × warning + exceeded)"
    )
    return result


# --- step run inside Django against the bench database (a subprocess) -----------------------------


def _local_receiver():
    """Return a started ThreadingHTTPServer on 127.0.0.1 that answers every POST 200."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Ok(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _round(endpoint, tenant: str, n: int, threads: int) -> dict:
    """Return the rates of one round: record n events, fan them out, send them with `threads` senders."""
    import threading

    from django.db import connections, transaction

    from notifications.models import WebhookDelivery
    from notifications.services.deliveries import webhook_delivery_send
    from notifications.services.dispatch import events_dispatch
    from notifications.services.events import event_record

    obj = {"id": str(uuid.uuid4()), "tenant_id": tenant, "status": "open", "amount_due": "49.00"}
    t0 = time.perf_counter()
    with transaction.atomic():
        for _ in range(n):
            event_record(type="invoice.finalized", tenant_id=tenant, obj=None, data=obj)
    recorded = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids = events_dispatch().deliveries
    fanned = time.perf_counter() - t0

    def send(part: list[int]) -> None:
        for delivery_id in part:
            webhook_delivery_send(delivery_id=delivery_id)
        connections.close_all()

    t0 = time.perf_counter()
    workers = [threading.Thread(target=send, args=(ids[k::threads],)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    sent = time.perf_counter() - t0
    ok = WebhookDelivery.objects.filter(endpoint=endpoint, status="succeeded", pk__in=ids).count()
    return {
        "events_recorded_per_s": n / recorded,
        "fan_out_per_s": len(ids) / fanned if fanned else 0.0,
        "deliveries_per_s": ok / sent if sent else 0.0,
        "succeeded": ok,
        "deliveries": len(ids),
    }


def step_deliveries(n: int) -> dict:
    from django.conf import settings

    from billing_project.dispatch import job_register
    from notifications.models import Event, WebhookEndpoint
    from notifications.services.endpoints import webhook_endpoint_create

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    # Each phase is timed on its own: nothing is queued behind the bench's back.
    for job in ("notifications.events_dispatch", "notifications.webhook_delivery_send"):
        job_register(job)(lambda **kwargs: None)
    server = _local_receiver()
    tenant = "bench-events-" + uuid.uuid4().hex[:6]
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    endpoint = webhook_endpoint_create(url=url, tenant_id=tenant, event_types=["*"])
    try:
        return {label: _round(endpoint, tenant, n, threads) for label, threads in (("sequential", 1), ("4 threads", 4))}
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        Event.objects.filter(tenant_id=tenant).delete()
        server.shutdown()


def bench_deliveries(quick: bool) -> dict:
    n = 300 if quick else 2000
    env = {**os.environ, "DATABASE_URL": db_url(), "LOG_LEVEL": "ERROR"}
    env.pop("CELERY_BROKER_URL", None)
    out = subprocess.run(
        [PY, str(Path(__file__).resolve()), "--step", "deliveries", str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for label, r in results.items():
        say(
            f"webhooks, {label}: {r['deliveries_per_s']:,.0f} deliveries/s to a local receiver "
            f"({r['succeeded']}/{r['deliveries']} succeeded); events recorded {r['events_recorded_per_s']:,.0f}/s "
            f"in one transaction, fanned out {r['fan_out_per_s']:,.0f}/s"
        )
    return results


def main(quick: bool = False) -> dict:
    bench_db()
    return {"ingest": bench_ingest(quick), "deliveries": bench_deliveries(quick)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--step", nargs=2, metavar=("NAME", "N"))
    args = parser.parse_args()
    if args.step:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
        import django

        django.setup()
        print(json.dumps(step_deliveries(int(args.step[1]))))
    else:
        main(quick=args.quick)
