"""Stripe test fixtures: a local Stripe emulator, signed webhook deliveries, open invoices.

Nothing reaches the internet. `localstripe_url` starts localstripe (GPL, test-only) once per session
in a subprocess bound to 127.0.0.1 on a port the OS picks, with its pickle state in a tmp dir, and
always stops it; `stripe_emulator` wipes its state (DELETE /_config/data) and points the settings at
it for one test. Webhook requests carry genuine Stripe-Signature headers: HMAC-SHA256 of
"{timestamp}.{payload}" with the webhook secret, computed here rather than by the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import select
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import stripe

WEBHOOK_SECRET = "whsec_test_billing_service"
SECRET_KEY = "sk_test_localstripe"
WEBHOOK_URL = "/api/v1/billing/stripe/webhook"

# Runs in the subprocess: localstripe's own command line listens on every interface and keeps its
# state in /tmp/localstripe.pickle, so bind the socket here and send the pickle to argv[1].
EMULATOR = """
import pickle, socket, sys
from localstripe import resources

def dump_to_disk(self):
    with open(sys.argv[1], "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)

resources.Store.dump_to_disk = dump_to_disk
resources.Store.try_load_from_disk = lambda self: None

from aiohttp import web
from localstripe.server import app

# Stripe replays the first answer to a repeated Idempotency-Key (errors included); localstripe does
# not, so replay here, as Stripe would, and forget the keys when the tests wipe the emulator.
_answers = {}


@web.middleware
async def idempotency(request, handler):
    if request.method == "DELETE" and request.path == "/_config/data":
        _answers.clear()
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    if key in _answers:
        status, body = _answers[key]
        return web.Response(status=status, body=body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    response = await handler(request)
    if response.status < 500:
        _answers[key] = (response.status, response.body)
    return response


app.middlewares.insert(0, idempotency)

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
web.run_app(app, sock=sock, print=None)
"""


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory):
    """Return the base URL of a localstripe emulator on 127.0.0.1 (one per test session)."""
    state_dir = tmp_path_factory.mktemp("localstripe")
    with open(state_dir / "emulator.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, str(state_dir / "localstripe.pickle")],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=state_dir,
        )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"localstripe did not start: {(state_dir / 'emulator.log').read_text()[-2000:]}")
        url = f"http://127.0.0.1:{int(line)}"
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.delete(f"{url}/_config/data", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@dataclass
class Emulator:
    url: str
    client: stripe.StripeClient  # the test's own client, to play the customer's side

    def get(self, path: str, **params) -> dict:
        """Return the emulator's raw JSON answer for GET `path`."""
        r = requests.get(f"{self.url}{path}", params=params, auth=(SECRET_KEY, ""), timeout=5)
        r.raise_for_status()
        return r.json()

    def pay(self, intent_id: str, card: str = "4242424242424242"):
        """Return the intent after the customer confirms it with the test card `card`."""
        method = self.client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": card, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            }
        )
        self.client.v1.payment_intents.update(intent_id, params={"payment_method": method.id})
        try:
            self.client.v1.payment_intents.confirm(intent_id)
        except stripe.CardError:
            pass  # a declined card: the intent goes back to requires_payment_method
        return self.client.v1.payment_intents.retrieve(intent_id)

    def event(self, event_type: str, object_id: str, timeout: float = 5) -> dict:
        """Return the raw event of `event_type` the emulator recorded for the object `object_id`."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.get("/v1/events", type=event_type)["data"]:
                if event["data"]["object"]["id"] == object_id:
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event_type} event for {object_id}")
            time.sleep(0.05)


@pytest.fixture
def stripe_settings(settings):
    """Configure Stripe keys (no emulator): for webhook tests and the fake gateway."""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing may leave the machine
    return settings


@pytest.fixture
def stripe_emulator(localstripe_url, stripe_settings) -> Emulator:
    """Return the emulator, emptied, with the settings pointing the service at it."""
    requests.delete(f"{localstripe_url}/_config/data", timeout=5).raise_for_status()
    stripe_settings.STRIPE_API_BASE = localstripe_url
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe_url}, max_network_retries=0)
    return Emulator(url=localstripe_url, client=client)


def stripe_signature(body: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Return a Stripe-Signature header for `body`: t=<ts>,v1=HMAC-SHA256("<ts>.<body>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def make_event(event_type: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    """Return a Stripe event envelope around `obj`."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": created or int(time.time()),
        "livemode": False,
        "api_version": "2025-09-30.clover",
        "data": {"object": obj},
    }


def deliver(
    client,
    event: dict | str,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
):
    """Return the webhook's response to `event` POSTed with a genuine (or the given) signature."""
    body = event if isinstance(event, str) else json.dumps(event, indent=2)
    headers = {"HTTP_STRIPE_SIGNATURE": signature or stripe_signature(body, secret=secret, timestamp=timestamp)}
    return client.post(WEBHOOK_URL, data=body, content_type="application/json; charset=utf-8", **headers)


def intent_object(
    invoice,
    *,
    amount: int | None = None,
    intent_id: str = "pi_test_1",
    status: str = "succeeded",
    currency: str | None = None,
    metadata: dict | None = None,
) -> dict:
    """Return a current-shape PaymentIntent paying `invoice` (amount in minor units)."""
    from billing_project.money import to_minor_units

    amount = to_minor_units(invoice.amount_due, invoice.currency) if amount is None else amount
    if metadata is None:
        metadata = {"invoice_id": str(invoice.id), "tenant_id": invoice.tenant_id}
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency or invoice.currency.lower(),
        "status": status,
        "metadata": metadata,
        "customer": invoice.tenant.stripe_customer_id or None,
    }


@pytest.fixture
def make_invoice(db):
    """Return a factory for invoices created straight with the ORM (open, 49.00 USD due by default)."""
    from billing.models import Invoice

    counter = iter(range(1, 1000))

    def make(tenant, *, amount_due="49.00", currency="USD", status="open", subscription=None) -> Invoice:
        n = next(counter)
        return Invoice.objects.create(
            tenant=tenant,
            subscription=subscription,
            status=status,
            currency=currency,
            number=None if status == "draft" else f"INV-2026-{n:06d}",
            period_start=datetime(2026, 10, 1, tzinfo=UTC),
            period_end=datetime(2026, 11, 1, tzinfo=UTC),
            subtotal=Decimal(amount_due),
            total=Decimal(amount_due),
            amount_due=Decimal(amount_due),
            finalized_at=None if status == "draft" else datetime(2026, 11, 1, tzinfo=UTC),
        )

    return make


@pytest.fixture
def subscription(catalog, tenant):
    """Return an active subscription of "acme" to "pro"."""
    from billing.models import Subscription

    start = datetime(2026, 10, 1, tzinfo=UTC)
    return Subscription.objects.create(
        tenant=tenant,
        plan_id="pro",
        status="active",
        currency="USD",
        started_at=start,
        current_period_start=datetime(2026, 11, 1, tzinfo=UTC),
        current_period_end=datetime(2026, 12, 1, tzinfo=UTC),
        invoiced_through=datetime(2026, 11, 1, tzinfo=UTC),
    )
