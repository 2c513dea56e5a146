"""POST /invoices/:invoiceId/payment-intent against the Stripe emulator."""

from decimal import Decimal

import pytest

from billing.models import Invoice, Tenant

pytestmark = pytest.mark.django_db


def url(invoice) -> str:
    return f"/api/v1/billing/invoices/{invoice.id}/payment-intent"


def test_creates_an_intent_for_the_amount_due_with_metadata_and_the_tenant_customer(
    api, tenant, make_invoice, stripe_emulator
):
    invoice = make_invoice(tenant, amount_due="123.45")
    r = api("tenant", "acme").post(url(invoice))
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"id", "client_secret", "amount", "currency", "status"}
    assert body["amount"] == 12345 and body["currency"] == "USD" and body["status"] == "requires_payment_method"

    at_stripe = stripe_emulator.get(f"/v1/payment_intents/{body['id']}")
    tenant.refresh_from_db()
    assert at_stripe["amount"] == 12345 and at_stripe["currency"] == "usd"
    assert at_stripe["customer"] == tenant.stripe_customer_id and tenant.stripe_customer_id.startswith("cus_")
    assert at_stripe["metadata"] == {
        "invoice_id": str(invoice.id),
        "tenant_id": "acme",
        "invoice_number": invoice.number,
    }
    invoice.refresh_from_db()
    assert invoice.stripe_payment_intent_id == body["id"]


def test_zero_decimal_currency_goes_to_stripe_in_whole_units(api, tenant, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant, amount_due="5000", currency="JPY")
    body = api("finance").post(url(invoice)).json()
    assert body["amount"] == 5000 and body["currency"] == "JPY"
    assert stripe_emulator.get(f"/v1/payment_intents/{body['id']}")["currency"] == "jpy"


def test_asking_again_returns_the_same_live_intent_and_one_customer(api, tenant, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant)
    first = api("tenant", "acme").post(url(invoice)).json()
    second = api("finance").post(url(invoice)).json()
    assert second == first
    assert len(stripe_emulator.get("/v1/payment_intents")["data"]) == 1
    assert len(stripe_emulator.get("/v1/customers")["data"]) == 1


def test_a_changed_amount_cancels_the_old_intent_and_creates_one_for_the_new_amount(
    api, tenant, make_invoice, stripe_emulator
):
    invoice = make_invoice(tenant, amount_due="49.00")
    old = api("finance").post(url(invoice)).json()
    Invoice.objects.filter(pk=invoice.pk).update(amount_due=Decimal("39.00"))

    new = api("finance").post(url(invoice)).json()
    assert new["id"] != old["id"] and new["amount"] == 3900
    assert stripe_emulator.get(f"/v1/payment_intents/{old['id']}")["status"] == "canceled"
    assert stripe_emulator.get(f"/v1/payment_intents/{new['id']}")["metadata"]["replaces_payment_intent"] == old["id"]
    invoice.refresh_from_db()
    assert invoice.stripe_payment_intent_id == new["id"]


def test_a_canceled_intent_is_replaced(api, tenant, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant)
    old = api("finance").post(url(invoice)).json()
    stripe_emulator.client.v1.payment_intents.cancel(old["id"])
    new = api("finance").post(url(invoice)).json()
    assert new["id"] != old["id"] and new["status"] == "requires_payment_method" and new["amount"] == 4900


def test_an_intent_that_already_succeeded_is_a_conflict_not_a_second_intent(api, tenant, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant)
    intent = api("finance").post(url(invoice)).json()
    stripe_emulator.pay(intent["id"])
    r = api("finance").post(url(invoice))
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_payment_underway"
    assert len(stripe_emulator.get("/v1/payment_intents")["data"]) == 1


@pytest.mark.parametrize(
    "status, due",
    [("draft", "49.00"), ("paid", "49.00"), ("void", "49.00"), ("uncollectible", "49.00"), ("open", "0.00")],
)
def test_only_open_invoices_with_an_amount_due_are_payable(api, tenant, make_invoice, stripe_emulator, status, due):
    invoice = make_invoice(tenant, status=status, amount_due=due)
    r = api("finance").post(url(invoice))
    assert r.status_code == 409
    assert r.json() == {
        "type": "client_error",
        "errors": [{"code": "invoice_not_payable", "detail": r.json()["errors"][0]["detail"], "attr": None}],
    }
    assert stripe_emulator.get("/v1/payment_intents")["data"] == []


def test_roles_and_tenant_isolation(api, anon, tenant, other_tenant, make_invoice, stripe_emulator):
    theirs = make_invoice(other_tenant)
    r = api("tenant", "acme").post(url(theirs))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert api("service").post(url(theirs)).status_code == 403
    assert anon.post(url(theirs)).status_code == 401
    assert (
        api("tenant", "acme")
        .post("/api/v1/billing/invoices/00000000-0000-0000-0000-000000000007/payment-intent")
        .status_code
        == 404
    )
    assert stripe_emulator.get("/v1/customers")["data"] == []
    assert Tenant.objects.get(pk="globex").stripe_customer_id == ""
