"""Benchmark: the invoice run over 10,000 subscriptions with usage, and PDF rendering.

Targets (issue 5): the run ≥ 200 invoices/s without PDFs on the 2-core machine with a real Celery
worker (2 prefork processes) over Redis; PDF rendering ≥ 30 invoices/s per core; queries per
invoice constant whatever the number of subscriptions.

    .venv/bin/python bench/invoices.py [--quick] [--subscriptions N]

Each subscription (half on "pro", half on "starter") started on the 1st of last month, so one
monthly period has ended; its usage is in the hourly rollups (plus raw events for the unique-count
metric). Every run resets those subscriptions and deletes their invoices first, so it is repeatable.
Needs Redis at CELERY_BENCH_BROKER (default redis://127.0.0.1:6379/14). Talks to 127.0.0.1 only;
every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datetime import UTC

from bench.common import PY, ROOT, bench_db, connect, db_url, say  # noqa: E402

PREFIX = "bench-inv-"
BROKER = os.environ.get("CELERY_BENCH_BROKER", "redis://127.0.0.1:6379/14")
TARGET_RUN_RATE = 200.0
TARGET_PDF_RATE = 30.0
CELERY = str(Path(PY).parent / "celery")


# --- steps that run inside Django (a subprocess against the bench database) ----------------------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _period():
    from datetime import datetime

    from billing.pricing import add_months

    now = datetime.now(UTC)
    end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return add_months(end, -1), end


def _seed_tenants(missing: list[str]) -> None:
    """Create the bench tenants in `missing` (every fourth one taxed at 20 %)."""
    from decimal import Decimal

    from billing.models import Tenant

    Tenant.objects.bulk_create(
        [
            Tenant(
                id=t,
                name=f"Bench tenant {t[-5:]}",
                email=f"billing@{t}.example",
                tax_rate=Decimal("0.2") if i % 4 == 0 else Decimal(0),
            )
            for i, t in enumerate(missing)
        ],
        ignore_conflicts=True,
    )


def _seed_hourly(tenant_id: str, i: int, start) -> list:
    """Return the i-th bench tenant's hourly usage rows: three hours of api_calls, jobs and storage_gb."""
    from datetime import timedelta
    from decimal import Decimal

    from billing.models import UsageHourly

    hourly = []
    for h in range(3):
        hour = start + timedelta(days=3 + 7 * h, hours=i % 24)
        hourly.append(
            UsageHourly(
                tenant_id=tenant_id,
                metric_id="api_calls",
                hour=hour,
                quantity_sum=Decimal(5000 + 37 * i % 20000),
                quantity_max=Decimal(10),
                event_count=500,
            )
        )
        hourly.append(
            UsageHourly(
                tenant_id=tenant_id,
                metric_id="jobs",
                hour=hour,
                quantity_sum=Decimal(40 + i % 90),
                quantity_max=1,
                event_count=40 + i % 90,
            )
        )
        hourly.append(
            UsageHourly(
                tenant_id=tenant_id,
                metric_id="storage_gb",
                hour=hour,
                quantity_sum=Decimal(20 + h),
                quantity_max=Decimal(20 + h),
                event_count=1,
            )
        )
    return hourly


def _seed_events(tenant_id: str, start) -> list:
    """Return a "pro" bench tenant's raw events: three distinct active users."""
    import hashlib
    from datetime import timedelta

    from billing.models import UsageEvent

    return [
        UsageEvent(
            tenant_id=tenant_id,
            event_id=f"u{u}",
            metric_id="active_users",
            quantity=1,
            timestamp=start + timedelta(days=5, minutes=u),
            properties={"user_id": f"user{u}"},
            received_at=start + timedelta(days=5),
            unique_key=hashlib.md5(f"user{u}".encode()).hexdigest(),
        )
        for u in range(3)
    ]


def step_seed(n: int) -> dict:
    """Create the bench tenants, subscriptions and usage that are missing (idempotent)."""
    from django.db import transaction

    from billing.models import Subscription, SubscriptionPlanSpan, UsageDailyDistinct, UsageEvent, UsageHourly

    start, end = _period()
    ids = [f"{PREFIX}{i:05d}" for i in range(n)]
    have = set(Subscription.objects.filter(tenant_id__in=ids, started_at=start).values_list("tenant_id", flat=True))
    missing = [t for t in ids if t not in have]
    if not missing:
        return {"created": 0}
    with transaction.atomic():
        Subscription.objects.filter(tenant_id__in=missing).delete()
        UsageHourly.objects.filter(tenant_id__in=missing).delete()
        UsageEvent.objects.filter(tenant_id__in=missing).delete()
        UsageDailyDistinct.objects.filter(tenant_id__in=missing).delete()
        _seed_tenants(missing)
        subs, spans, hourly, events = [], [], [], []
        for i, tenant_id in enumerate(missing):
            plan = "pro" if i % 2 == 0 else "starter"
            sub = Subscription(
                tenant_id=tenant_id,
                plan_id=plan,
                status="active",
                currency="USD",
                started_at=start,
                current_period_start=start,
                current_period_end=end,
                invoiced_through=start,
            )
            subs.append(sub)
            spans.append(SubscriptionPlanSpan(subscription=sub, plan_id=plan, start=start))
            hourly.extend(_seed_hourly(tenant_id, i, start))
            if plan == "pro":
                events.extend(_seed_events(tenant_id, start))
        Subscription.objects.bulk_create(subs, batch_size=2000)
        SubscriptionPlanSpan.objects.bulk_create(spans, batch_size=2000)
        UsageHourly.objects.bulk_create(hourly, batch_size=5000)
        UsageEvent.objects.bulk_create(events, batch_size=5000)
        UsageDailyDistinct.objects.bulk_create(
            {
                (e.tenant_id, e.metric_id, e.timestamp.date(), e.unique_key): UsageDailyDistinct(
                    tenant_id=e.tenant_id, metric_id=e.metric_id, day=e.timestamp.date(), unique_key=e.unique_key
                )
                for e in events
            }.values(),
            batch_size=5000,
        )
    return {"created": len(missing)}


def step_reset(n: int) -> dict:
    """Delete the bench tenants' invoices and put their subscriptions back before the ended period."""
    from billing.models import CreditApplication, Invoice, InvoiceLine, Subscription

    start, end = _period()
    ids = [f"{PREFIX}{i:05d}" for i in range(n)]
    CreditApplication.objects.filter(invoice__tenant_id__in=ids).delete()
    InvoiceLine.objects.filter(invoice__tenant_id__in=ids).delete()
    deleted, _ = Invoice.objects.filter(tenant_id__in=ids).delete()
    Subscription.objects.filter(tenant_id__in=ids).update(
        invoiced_through=start, current_period_start=start, current_period_end=end, status="active"
    )
    return {"deleted_invoices": deleted}


def step_queries(samples: list[int]) -> dict:
    """Return the queries per invoice of the run's per-subscription work for batches of each size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from billing.models import Subscription
    from billing.services.invoices import invoice_run_subscription

    at = timezone.now()
    result = {}
    offset = 0
    for size in samples:
        ids = list(
            Subscription.objects.filter(tenant__id__startswith=PREFIX, invoiced_through__lt=_period()[1])
            .order_by("tenant_id")
            .values_list("id", flat=True)[offset : offset + size]
        )
        offset += size
        with CaptureQueriesContext(connection) as ctx:
            made = sum(invoice_run_subscription(subscription_id=i, at=at)[0] for i in ids)
        result[str(size)] = round(len(ctx.captured_queries) / max(made, 1), 2)
    return result


def step_batch_queries(size: int) -> dict:
    """Return the queries per invoice of one batch as the Celery task runs it (plans read once per batch)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from billing.models import Subscription
    from billing.services.invoices import invoices_run_batch

    ids = list(
        Subscription.objects.filter(tenant__id__startswith=PREFIX, invoiced_through__lt=_period()[1])
        .order_by("tenant_id")
        .values_list("id", flat=True)[:size]
    )
    with CaptureQueriesContext(connection) as ctx:
        summary = invoices_run_batch(subscription_ids=ids, draft_ids=[], at=timezone.now())
    return {"batch": len(ids), "queries_per_invoice": round(len(ctx.captured_queries) / max(summary.generated, 1), 2)}


def step_pdf(count: int) -> dict:
    """Return the rate of rendering and storing PDFs of finalized invoices in this one process."""
    from billing.models import Invoice
    from billing.services.invoices import invoice_render_pdf

    ids = list(
        Invoice.objects.filter(tenant__id__startswith=PREFIX)
        .exclude(status="draft")
        .order_by("tenant_id")
        .values_list("id", flat=True)[:count]
    )
    invoice_render_pdf(invoice_id=ids[0])  # warm-up: fonts and modules
    t0 = time.perf_counter()
    size = 0
    for invoice_id in ids:
        size += len(invoice_render_pdf(invoice_id=invoice_id).pdf)
    seconds = time.perf_counter() - t0
    return {
        "pdfs": len(ids),
        "seconds": round(seconds, 2),
        "rate": round(len(ids) / seconds, 1),
        "avg_kb": round(size / len(ids) / 1024, 1),
    }


STEPS = {
    "seed": step_seed,
    "reset": step_reset,
    "queries": step_queries,
    "batch_queries": step_batch_queries,
    "pdf": step_pdf,
}


def _in_django(step: str, arg, env: dict | None = None) -> dict:
    """Run one step in a subprocess against the bench database and return its JSON answer."""
    full_env = {
        **os.environ,
        "DATABASE_URL": db_url(),
        "LOG_LEVEL": "ERROR",
        "CELERY_BROKER_URL": "",
        "BILLING_PDF_ON_FINALIZE": "0",
        **(env or {}),
    }
    r = subprocess.run(
        [PY, str(Path(__file__).resolve()), "--django-step", step, "--arg", json.dumps(arg)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if r.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --- the orchestration ---------------------------------------------------------------------------


def _redis_ok() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(BROKER, socket_connect_timeout=1)
        client.ping()
        client.flushdb()
        return True
    except Exception:  # noqa: BLE001
        return False


def _count_finalized(n: int) -> int:
    with connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM billing_invoice WHERE tenant_id >= %s AND tenant_id < %s AND status <> 'draft'",
            [f"{PREFIX}00000", f"{PREFIX}{n:05d}"],
        ).fetchone()[0]


def _start_worker(env: dict) -> subprocess.Popen:
    """Return a started Celery worker (2 prefork processes) running with `env`."""
    return subprocess.Popen(
        [
            CELERY,
            "-A",
            "billing_project",
            "worker",
            "-l",
            "ERROR",
            "--concurrency",
            "2",
            "-P",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            "bench-invoices@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(5)


def _wait_done(n: int, deadline: float, count) -> int:
    """Return `count(n)` once it reaches n, or at `deadline`."""
    done = 0
    while time.perf_counter() < deadline:
        done = count(n)
        if done >= n:
            break
        time.sleep(0.25)
    return done


def run_with_worker(n: int, batch_size: int, timeout: float, *, extra_env: dict | None = None, count=None) -> dict:
    """Return the invoice run's rate with a real Celery worker (2 processes) over Redis, PDFs off.

    The run is done when `count(n)` (default: finalized invoices) reaches `n`.
    """
    count = count or _count_finalized
    env = {
        **os.environ,
        "DATABASE_URL": db_url(),
        "CELERY_BROKER_URL": BROKER,
        "BILLING_PDF_ON_FINALIZE": "0",
        "LOG_LEVEL": "ERROR",
        **(extra_env or {}),
    }
    worker = _start_worker(env)
    try:
        time.sleep(4)  # let the worker connect (it sits idle on an empty queue)
        if worker.poll() is not None:
            raise RuntimeError("celery worker exited:\n" + (worker.stderr.read() or "")[-2000:])
        t0 = time.perf_counter()
        queued = subprocess.run(
            [PY, "manage.py", "run_invoices", "--batch-size", str(batch_size)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if queued.returncode != 0:
            raise RuntimeError("run_invoices failed:\n" + queued.stderr[-2000:])
        queue_s = time.perf_counter() - t0
        done = _wait_done(n, t0 + timeout, count)
        seconds = time.perf_counter() - t0
        return {
            "invoices": done,
            "seconds": round(seconds, 2),
            "rate": round(done / seconds, 1),
            "queue_seconds": round(queue_s, 2),
            "complete": done >= n,
        }
    finally:
        _stop_worker(worker)


def main(quick: bool = False, *, subscriptions: int | None = None, batch_size: int = 50) -> dict:
    """Run the benchmark and return its figures (run rate, PDF rate per core, queries per invoice)."""
    n = subscriptions or (2_000 if quick else 10_000)
    bench_db()
    if not _redis_ok():
        say(f"!! invoices bench skipped: Redis is unreachable at {BROKER}")
        return {"skipped": "redis unreachable"}
    say(f"invoices bench: {n:,} subscriptions with one ended period each")
    t0 = time.perf_counter()
    seeded = _in_django("seed", n)
    say(f"  seeded {seeded['created']:,} new subscriptions ({time.perf_counter() - t0:.0f} s)")
    _in_django("reset", n)
    run = run_with_worker(n, batch_size, timeout=600)
    ok_run = run["complete"] and run["rate"] >= TARGET_RUN_RATE
    say(
        f"  invoice run (Celery, 2 worker processes, Redis, no PDFs): {run['invoices']:,} invoices in "
        f"{run['seconds']} s = {run['rate']:,.1f} invoices/s (queued in {run['queue_seconds']} s) "
        f"[target ≥ {TARGET_RUN_RATE:.0f}: {'OK' if ok_run else 'MISSED'}]"
    )
    pdf = _in_django("pdf", 200 if quick else 500)
    ok_pdf = pdf["rate"] >= TARGET_PDF_RATE
    say(
        f"  PDF rendering (one process = one core, fetch + render + store): {pdf['pdfs']} PDFs in {pdf['seconds']} s "
        f"= {pdf['rate']:.1f} invoices/s per core, {pdf['avg_kb']} KB each "
        f"[target ≥ {TARGET_PDF_RATE:.0f}: {'OK' if ok_pdf else 'MISSED'}]"
    )
    _in_django("reset", 300)
    queries = _in_django("queries", [10, 100])
    flat = len(set(queries.values())) == 1
    say(
        "  queries per invoice (generate + finalize + roll, one transaction): "
        + ", ".join(f"{v} for {k} subscriptions" for k, v in queries.items())
        + f" with {n:,} in the database [{'constant' if flat else 'VARIES'}]"
    )
    batch = _in_django("batch_queries", 50)
    say(
        f"  queries per invoice in one Celery batch of {batch['batch']} (plans and charges read once per batch): "
        f"{batch['queries_per_invoice']}"
    )
    return {
        "subscriptions": n,
        "run": run,
        "pdf": pdf,
        "queries_per_invoice": queries,
        "queries_per_invoice_batch": batch["queries_per_invoice"],
        "targets_met": ok_run and ok_pdf and flat,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subscriptions", type=int)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--django-step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--arg", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.django_step:
        _django()
        print(json.dumps(STEPS[args.django_step](json.loads(args.arg))))
    else:
        main(quick=args.quick, subscriptions=args.subscriptions, batch_size=args.batch_size)
