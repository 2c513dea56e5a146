"""Benchmark: the invoice run with automatic charging against a local Stripe emulator.

    .venv/bin/python bench/collection.py [--quick] [--subscriptions N]

Seeds the invoice bench's subscriptions (bench/invoices.py), gives every bench tenant the same
Stripe customer and saved card at a localstripe emulator started here on 127.0.0.1, then runs the
invoice run with a real Celery worker (2 processes) over Redis: each finalized invoice queues its
charge (an off-session PaymentIntent per invoice). Reports invoices/s (first draft created → last
invoice finalized) and charges/s (first invoice finalized → last invoice paid), from the stored
timestamps. localstripe is a single-process Python emulator, so charges/s measures our side plus
an emulator far slower than Stripe; it needs the `localstripe` test dependency.
"""

from __future__ import annotations

import argparse
import select
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PY, bench_db, connect, say  # noqa: E402
from bench.invoices import PREFIX, _in_django, _redis_ok, run_with_worker  # noqa: E402

SECRET_KEY = "sk_test_bench"
# localstripe with its per-request pickle of the whole store turned off (it grows with every intent).
EMULATOR = """
import socket
from localstripe import resources
resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None
from aiohttp import web
from localstripe.server import app
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
web.run_app(app, sock=sock, print=None)
"""


def _start_emulator() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([PY, "-c", EMULATOR], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError("localstripe did not start")
    time.sleep(0.5)
    return proc, f"http://127.0.0.1:{int(line)}"


def _saved_card(url: str, n: int) -> None:
    """Create one customer with a 4242 card at the emulator and make it every bench tenant's default."""
    import stripe

    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": url}, max_network_retries=0)
    customer = client.v1.customers.create(params={"name": "bench"})
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    method = client.v1.payment_methods.create(params={"type": "card", "card": card})
    client.v1.payment_methods.attach(method.id, params={"customer": customer.id})
    with connect() as conn:
        conn.execute(
            "UPDATE billing_tenant SET stripe_customer_id = %s, default_payment_method_id = %s, "
            "payment_method_brand = 'visa', payment_method_last4 = '4242', collection_method = 'charge_automatically' "
            "WHERE id >= %s AND id < %s",
            [customer.id, method.id, f"{PREFIX}00000", f"{PREFIX}{n:05d}"],
        )


def _count_paid(n: int) -> int:
    with connect() as conn:
        return conn.execute(
            "SELECT count(*) FROM billing_invoice WHERE tenant_id >= %s AND tenant_id < %s AND status = 'paid'",
            [f"{PREFIX}00000", f"{PREFIX}{n:05d}"],
        ).fetchone()[0]


def _rates(n: int) -> dict:
    with connect() as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status <> 'draft'), count(*) FILTER (WHERE status = 'paid'), "
            "min(created_at), max(finalized_at), min(finalized_at), max(paid_at), "
            "(SELECT count(*) FROM billing_paymentattempt a JOIN billing_invoice i ON i.id = a.invoice_id "
            " WHERE i.tenant_id >= %s AND i.tenant_id < %s) "
            "FROM billing_invoice WHERE tenant_id >= %s AND tenant_id < %s",
            [f"{PREFIX}00000", f"{PREFIX}{n:05d}"] * 2,
        ).fetchone()
    finalized, paid, first_created, last_final, first_final, last_paid, attempts = row
    run_s = (last_final - first_created).total_seconds() if finalized else 0
    charge_s = (last_paid - first_final).total_seconds() if paid else 0
    return {
        "finalized": finalized,
        "paid": paid,
        "attempts": attempts,
        "invoices_per_s": round(finalized / run_s, 1) if run_s else None,
        "charges_per_s": round(paid / charge_s, 1) if charge_s else None,
    }


def main(quick: bool = False, *, subscriptions: int | None = None, batch_size: int = 50) -> dict:
    """Run the benchmark and return its figures (invoices/s and charges/s)."""
    n = subscriptions or (1_000 if quick else 10_000)
    bench_db()
    if not _redis_ok():
        say("!! collection bench skipped: Redis is unreachable")
        return {"skipped": "redis unreachable"}
    say(f"collection bench: {n:,} subscriptions, each invoice charged automatically at the emulator")
    _in_django("seed", n)
    _in_django("reset", n)
    emulator, url = _start_emulator()
    try:
        _saved_card(url, n)
        env = {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_API_BASE": url}
        run = run_with_worker(n, batch_size, timeout=1800, extra_env=env, count=_count_paid)
    finally:
        emulator.terminate()
        emulator.wait(10)
    rates = _rates(n)
    say(
        f"  {rates['finalized']:,} invoices finalized at {rates['invoices_per_s']} invoices/s, {rates['paid']:,} paid "
        f"by automatic charge at {rates['charges_per_s']} charges/s ({rates['attempts']:,} payment attempts; "
        f"all paid in {run['seconds']} s: {'complete' if run['complete'] else 'INCOMPLETE'})"
    )
    return {"subscriptions": n, "run": run, **rates}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subscriptions", type=int)
    args = parser.parse_args()
    main(args.quick, subscriptions=args.subscriptions)
