"""The Stripe gateway: one customer per tenant, idempotency keys, and clean errors when Stripe fails."""

import socket
import threading
import time

import pytest
import stripe
from django.db import connection

from billing.models import Tenant
from billing.stripe import client as gateway
from billing.stripe.services import stripe_customer_ensure


@pytest.fixture
def sent(monkeypatch):
    """Return the (method, path, Idempotency-Key) of every request the real client sends."""
    calls = []
    original = stripe.RequestsClient.request

    def spy(self, method, url, headers, post_data=None):
        calls.append(
            (
                method.upper(),
                url.split("://", 1)[1].split("/", 1)[1].split("?")[0],
                (headers or {}).get("Idempotency-Key"),
            )
        )
        return original(self, method, url, headers, post_data)

    monkeypatch.setattr(stripe.RequestsClient, "request", spy)
    return calls


@pytest.mark.django_db
def test_every_create_carries_a_deterministic_idempotency_key(api, tenant, make_invoice, stripe_emulator, sent):
    invoice = make_invoice(tenant)
    assert api("finance").post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent").status_code == 201
    posts = [(path, key) for method, path, key in sent if method == "POST"]
    assert [path for path, _ in posts] == ["v1/customers", "v1/payment_intents"]
    assert posts[0][1].startswith("customer-acme-")
    assert posts[1][1].startswith(f"pi-{invoice.id}-4900-")

    # A retried request (same tenant, same parameters) sends the very same key, so real Stripe answers
    # with the customer it already made.
    Tenant.objects.filter(pk="acme").update(stripe_customer_id="")
    stripe_customer_ensure(tenant=Tenant.objects.get(pk="acme"))
    assert [key for method, path, key in sent if path == "v1/customers"] == [posts[0][1], posts[0][1]]


@pytest.mark.django_db
def test_a_customer_is_created_once_and_stored_on_the_tenant(tenant, stripe_emulator):
    first = stripe_customer_ensure(tenant=tenant).stripe_customer_id
    second = stripe_customer_ensure(tenant=Tenant.objects.get(pk="acme")).stripe_customer_id
    assert first == second == Tenant.objects.get(pk="acme").stripe_customer_id
    customers = stripe_emulator.get("/v1/customers")["data"]
    assert [(c["id"], c["name"], c["metadata"]) for c in customers] == [(first, "Acme Corp", {"tenant_id": "acme"})]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_first_needs_create_one_customer(stripe_emulator, monkeypatch):
    Tenant.objects.create(id="acme", name="Acme Corp")
    real_create = gateway.customer_create

    def slow_create(params, *, key):  # widen the race window: both requests are inside it at once
        time.sleep(0.3)
        return real_create(params, key=key)

    monkeypatch.setattr(gateway, "customer_create", slow_create)
    barrier, ids = threading.Barrier(2), []

    def first_need():
        try:
            barrier.wait()
            ids.append(stripe_customer_ensure(tenant=Tenant.objects.get(pk="acme")).stripe_customer_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_need) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(ids) == 2 and ids[0] == ids[1] == Tenant.objects.get(pk="acme").stripe_customer_id
    assert len(stripe_emulator.get("/v1/customers")["data"]) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_stripe_down_is_a_502_in_the_error_shape_and_nothing_is_stored(api, tenant, make_invoice, stripe_settings):
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port()}"
    invoice = make_invoice(tenant)
    r = api("tenant", "acme").post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent")
    assert r.status_code == 502
    assert r.json() == {
        "type": "server_error",
        "errors": [
            {
                "code": "payment_provider_error",
                "detail": "Stripe could not be reached to create the customer.",
                "attr": None,
            }
        ],
    }
    invoice.refresh_from_db()
    tenant.refresh_from_db()
    assert invoice.stripe_payment_intent_id == "" and tenant.stripe_customer_id == ""


@pytest.mark.django_db
def test_a_stripe_that_never_answers_times_out_into_a_502(api, tenant, stripe_settings, monkeypatch):
    monkeypatch.setattr(gateway, "TIMEOUT_SECONDS", (0.5, 0.5))
    gateway._build_client.cache_clear()
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        r = api("finance").post(
            "/api/v1/billing/stripe/portal",
            {"tenant_id": "acme", "return_url": "https://app.example/billing"},
            format="json",
        )
        elapsed = time.monotonic() - started
    gateway._build_client.cache_clear()
    assert r.status_code == 502 and r.json()["errors"][0]["code"] == "payment_provider_error"
    assert elapsed < 5  # two attempts of 0.5 s plus stripe-python's back-off, not a hung worker


@pytest.mark.django_db
def test_a_stripe_error_answer_is_a_502_not_a_500(api, tenant, stripe_emulator):
    # The emulator has no Checkout Sessions: it answers 404, as Stripe would to a broken request.
    r = api("finance").post(
        "/api/v1/billing/stripe/checkout",
        {
            "tenant_id": "acme",
            "mode": "setup",
            "success_url": "https://app.example/ok",
            "cancel_url": "https://app.example/cancel",
        },
        format="json",
    )
    assert r.status_code == 502
    error = r.json()["errors"][0]
    assert error["code"] == "payment_provider_error" and error["detail"].startswith(
        "Stripe could not create the checkout session"
    )


@pytest.mark.django_db
def test_no_secret_key_is_503_not_configured(api, tenant, make_invoice, settings):
    settings.STRIPE_SECRET_KEY = ""
    invoice = make_invoice(tenant)
    r = api("finance").post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent")
    assert r.status_code == 503
    assert r.json()["errors"][0]["code"] == "payment_provider_not_configured"


def test_keys_depend_on_the_request_only():
    params = {"amount": 4900, "currency": "usd", "metadata": {"invoice_id": "x", "tenant_id": "acme"}}
    same = {"metadata": {"tenant_id": "acme", "invoice_id": "x"}, "currency": "usd", "amount": 4900}
    assert gateway.idempotency_key("pi-x-4900", params) == gateway.idempotency_key("pi-x-4900", same)
    assert gateway.idempotency_key("pi-x-4900", params) != gateway.idempotency_key(
        "pi-x-4900", {**params, "customer": "cus_2"}
    )
