"""Billing settings and the default payment method (section 11) against the Stripe emulator."""

import pytest

from billing.models import Tenant

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


def settings_url(tenant_id: str = "acme") -> str:
    return f"{BASE}/tenants/{tenant_id}/billing-settings"


def pm_url(tenant_id: str = "acme") -> str:
    return f"{BASE}/tenants/{tenant_id}/payment-method"


def card(emulator, number: str = "4242424242424242") -> str:
    """Return the id of a new card PaymentMethod at the emulator (as Stripe.js would create it)."""
    method = emulator.client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return method.id


def test_a_tenant_never_seen_gets_the_defaults(api, db):
    r = api("tenant", "newco").get(settings_url("newco"))
    assert r.status_code == 200
    assert r.json() == {
        "tenant_id": "newco",
        "billing_email": None,
        "collection_method": "charge_automatically",
        "tax_rate": "0",
        "payment_method": None,
        "stripe_customer_id": None,
    }


def test_an_impossible_tenant_id_is_404_and_get_creates_nothing(api, db):
    r = api("finance").get(settings_url("x" * 70))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert api("finance").get(settings_url("ghost")).status_code == 200
    assert not Tenant.objects.filter(pk="ghost").exists()


def test_put_changes_only_the_fields_sent(api, tenant):
    r = api("finance").put(settings_url(), {"billing_email": "ap@acme.test", "tax_rate": "0.2"}, format="json")
    assert r.status_code == 200
    assert r.json()["billing_email"] == "ap@acme.test" and r.json()["tax_rate"] == "0.20"
    r = api("tenant", "acme").put(settings_url(), {"collection_method": "send_invoice"}, format="json")
    assert r.status_code == 200
    body = r.json()
    assert body["collection_method"] == "send_invoice"
    assert body["billing_email"] == "ap@acme.test" and body["tax_rate"] == "0.20"
    tenant.refresh_from_db()
    assert tenant.collection_method == "send_invoice" and str(tenant.tax_rate) == "0.200000"


@pytest.mark.parametrize(
    "body, attr",
    [
        ({"billing_email": "not-an-address"}, "billing_email"),
        ({"tax_rate": "1.5"}, "tax_rate"),
        ({"tax_rate": "-0.1"}, "tax_rate"),
        ({"collection_method": "carrier_pigeon"}, "collection_method"),
    ],
)
def test_bad_settings_are_400_and_change_nothing(api, tenant, body, attr):
    r = api("finance").put(settings_url(), body, format="json")
    assert r.status_code == 400
    assert r.json()["type"] == "validation_error" and r.json()["errors"][0]["attr"] == attr
    tenant.refresh_from_db()
    assert tenant.billing_email == "" and tenant.tax_rate == 0 and tenant.collection_method == "charge_automatically"


def test_a_tenant_may_not_change_its_tax_rate(api, tenant):
    r = api("tenant", "acme").put(settings_url(), {"tax_rate": "0", "billing_email": "x@acme.test"}, format="json")
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "permission_denied"
    tenant.refresh_from_db()
    assert tenant.billing_email == ""


@pytest.mark.parametrize("method", ["get", "put"])
def test_role_matrix_on_billing_settings(api, tenant, other_tenant, method):
    call = lambda client: getattr(client, method)(settings_url(), {}, format="json")  # noqa: E731
    assert call(api("finance")).status_code == 200
    assert call(api("tenant", "acme")).status_code == 200
    r = call(api("tenant", "globex"))
    assert r.status_code == 403 and r.json()["type"] == "client_error"
    assert call(api("service")).status_code == 403


def test_put_payment_method_attaches_makes_default_and_reports_the_card(api, tenant, stripe_emulator):
    pm = card(stripe_emulator)
    r = api("tenant", "acme").put(pm_url(), {"payment_method_id": pm}, format="json")
    assert r.status_code == 200
    body = r.json()
    assert body["payment_method"] == {
        "id": pm,
        "type": "card",
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2034,
    }
    customer = stripe_emulator.get(f"/v1/customers/{body['stripe_customer_id']}")
    assert customer["invoice_settings"]["default_payment_method"] == pm
    assert stripe_emulator.get(f"/v1/payment_methods/{pm}")["customer"] == body["stripe_customer_id"]
    assert api("finance").get(settings_url()).json()["payment_method"]["last4"] == "4242"


def test_a_card_refused_at_attach_is_400_invalid_payment_method(api, tenant, stripe_emulator):
    r = api("finance").put(pm_url(), {"payment_method_id": card(stripe_emulator, "4000000000000002")}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_payment_method"
    assert r.json()["errors"][0]["attr"] == "payment_method_id"
    assert Tenant.objects.get(pk="acme").default_payment_method_id == ""


def test_an_unknown_payment_method_is_400_invalid_payment_method(api, tenant, stripe_emulator):
    r = api("finance").put(pm_url(), {"payment_method_id": "pm_doesnotexist"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid_payment_method"


def test_a_card_that_declines_charges_still_attaches(api, tenant, stripe_emulator):
    r = api("finance").put(pm_url(), {"payment_method_id": card(stripe_emulator, "4000000000000341")}, format="json")
    assert r.status_code == 200 and r.json()["payment_method"]["last4"] == "0341"


def test_delete_detaches_and_clears(api, tenant, stripe_emulator):
    pm = card(stripe_emulator)
    api("finance").put(pm_url(), {"payment_method_id": pm}, format="json")
    r = api("tenant", "acme").delete(pm_url())
    assert r.status_code == 204
    assert api("finance").get(settings_url()).json()["payment_method"] is None
    assert stripe_emulator.get(f"/v1/payment_methods/{pm}")["customer"] is None


def test_role_matrix_on_payment_method(api, tenant, other_tenant, stripe_emulator):
    body = {"payment_method_id": "pm_x"}
    assert api("tenant", "globex").put(pm_url(), body, format="json").status_code == 403
    assert api("service").put(pm_url(), body, format="json").status_code == 403
    assert api("tenant", "globex").delete(pm_url()).status_code == 403
    assert api("service").delete(pm_url()).status_code == 403
