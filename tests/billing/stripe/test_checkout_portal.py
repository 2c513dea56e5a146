"""POST /stripe/checkout and /stripe/portal.

The emulator has no Checkout or portal sessions, so those two gateway calls are replaced by a fake
that checks the parameters the real client would send; the customer still comes from the emulator.
"""

import types

import pytest

from billing.models import Invoice
from billing.stripe import client as gateway

pytestmark = pytest.mark.django_db

CHECKOUT = "/api/v1/billing/stripe/checkout"
PORTAL = "/api/v1/billing/stripe/portal"
URLS = {
    "success_url": "https://app.example/billing/done?session={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://app.example/billing",
}


@pytest.fixture
def fake_stripe(monkeypatch, stripe_emulator):
    """Return the list of (what, params, key) the fake received; answers like Stripe would."""
    calls = []

    def checkout_session_create(params, *, key):
        calls.append(("checkout", params, key))
        n = sum(1 for c in calls if c[0] == "checkout")
        return types.SimpleNamespace(id=f"cs_test_{n}", url=f"https://checkout.stripe.com/c/pay/cs_test_{n}")

    def portal_session_create(params, *, key):
        calls.append(("portal", params, key))
        return types.SimpleNamespace(id="bps_1", url="https://billing.stripe.com/p/session/test_1")

    monkeypatch.setattr(gateway, "checkout_session_create", checkout_session_create)
    monkeypatch.setattr(gateway, "portal_session_create", portal_session_create)
    return calls


def test_payment_checkout_for_an_open_invoice(api, tenant, make_invoice, fake_stripe):
    invoice = make_invoice(tenant, amount_due="1234.56", currency="EUR")
    r = api("tenant", "acme").post(
        CHECKOUT, {"tenant_id": "acme", "mode": "payment", "invoice_id": str(invoice.id), **URLS}, format="json"
    )
    assert r.status_code == 201
    assert r.json() == {"id": "cs_test_1", "url": "https://checkout.stripe.com/c/pay/cs_test_1"}

    tenant.refresh_from_db()
    assert tenant.stripe_customer_id.startswith("cus_")  # made by the emulator on first need
    metadata = {"invoice_id": str(invoice.id), "tenant_id": "acme", "invoice_number": invoice.number}
    [(what, params, key)] = fake_stripe
    assert what == "checkout"
    assert params == {
        "mode": "payment",
        "customer": tenant.stripe_customer_id,
        "client_reference_id": "acme",
        **URLS,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 123456,
                    "product_data": {"name": f"Invoice {invoice.number}"},
                },
            }
        ],
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    assert key == f"checkout-{invoice.id}-123456"
    assert Invoice.objects.get(pk=invoice.pk).stripe_checkout_session_id == "cs_test_1"


def test_setup_checkout_saves_a_card_for_the_tenant(api, tenant, fake_stripe):
    r = api("finance").post(CHECKOUT, {"tenant_id": "acme", "mode": "setup", **URLS}, format="json")
    assert r.status_code == 201 and r.json()["id"] == "cs_test_1"
    tenant.refresh_from_db()
    [(_, params, key)] = fake_stripe
    assert params == {
        "mode": "setup",
        "customer": tenant.stripe_customer_id,
        "client_reference_id": "acme",
        **URLS,
        "payment_method_types": ["card"],
        "metadata": {"tenant_id": "acme"},
        "setup_intent_data": {"metadata": {"tenant_id": "acme"}},
    }
    assert key.startswith("checkout-setup-acme-")


@pytest.mark.parametrize(
    "body, attr, code",
    [
        ({"mode": "payment"}, "invoice_id", "required"),
        ({"mode": "subscription"}, "mode", "invalid_choice"),
        ({"mode": "setup", "success_url": "not a url"}, "success_url", "invalid"),
        ({"mode": "setup", "tenant_id": "no spaces allowed"}, "tenant_id", "invalid"),
    ],
)
def test_checkout_validation(api, tenant, fake_stripe, body, attr, code):
    r = api("finance").post(CHECKOUT, {"tenant_id": "acme", **URLS, **body}, format="json")
    assert r.status_code == 400
    assert {(e["attr"], e["code"]) for e in r.json()["errors"]} == {(attr, code)}
    assert fake_stripe == []


@pytest.mark.parametrize("status, due", [("paid", "49.00"), ("draft", "49.00"), ("open", "0.00")])
def test_payment_checkout_needs_an_open_invoice_with_an_amount_due(api, tenant, make_invoice, fake_stripe, status, due):
    invoice = make_invoice(tenant, status=status, amount_due=due)
    r = api("finance").post(
        CHECKOUT, {"tenant_id": "acme", "mode": "payment", "invoice_id": str(invoice.id), **URLS}, format="json"
    )
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_not_payable"
    assert fake_stripe == []


def test_checkout_roles_and_tenant_isolation(api, tenant, other_tenant, make_invoice, fake_stripe):
    theirs = make_invoice(other_tenant)
    # A tenant naming another tenant: 403. Its own tenant with another tenant's invoice: 404.
    r = api("tenant", "acme").post(CHECKOUT, {"tenant_id": "globex", "mode": "setup", **URLS}, format="json")
    assert r.status_code == 403
    r = api("tenant", "acme").post(
        CHECKOUT, {"tenant_id": "acme", "mode": "payment", "invoice_id": str(theirs.id), **URLS}, format="json"
    )
    assert r.status_code == 404
    # Finance paying globex's invoice under acme's name is not found either.
    r = api("finance").post(
        CHECKOUT, {"tenant_id": "acme", "mode": "payment", "invoice_id": str(theirs.id), **URLS}, format="json"
    )
    assert r.status_code == 404
    assert (
        api("service").post(CHECKOUT, {"tenant_id": "acme", "mode": "setup", **URLS}, format="json").status_code == 403
    )
    assert fake_stripe == []


def test_portal_session_for_the_tenant_customer(api, tenant, fake_stripe):
    r = api("tenant", "acme").post(
        PORTAL, {"tenant_id": "acme", "return_url": "https://app.example/billing"}, format="json"
    )
    assert r.status_code == 201 and r.json() == {"url": "https://billing.stripe.com/p/session/test_1"}
    tenant.refresh_from_db()
    [(what, params, key)] = fake_stripe
    assert what == "portal" and key.startswith("portal-acme-")
    assert params == {"customer": tenant.stripe_customer_id, "return_url": "https://app.example/billing"}


def test_portal_roles(api, tenant, fake_stripe):
    body = {"tenant_id": "acme", "return_url": "https://app.example/billing"}
    assert api("tenant", "globex").post(PORTAL, body, format="json").status_code == 403
    assert api("service").post(PORTAL, body, format="json").status_code == 403
    r = api("finance").post(PORTAL, {"tenant_id": "acme"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "return_url"
    assert fake_stripe == []
