"""Payment methods saved through Checkout (setup mode), a SetupIntent or the portal, from signed webhooks.

The events' own copies are stale on purpose: the service must read the current state from Stripe.
"""

import pytest

from billing.models import Tenant
from billing.services.payments.settings import payment_method_set
from billing.stripe.services import stripe_customer_ensure
from tests.billing.stripe.conftest import deliver, make_event
from tests.billing.stripe.test_billing_settings import card

pytestmark = pytest.mark.django_db


def saved_by_setup_intent(emulator, customer_id: str, number: str = "4242424242424242"):
    """Return (setup intent id, payment method id) of a card saved as Checkout/Stripe.js would save it."""
    pm = card(emulator, number)
    emulator.client.v1.payment_methods.attach(pm, params={"customer": customer_id})
    intent = emulator.client.v1.setup_intents.create(params={"customer": customer_id})
    emulator.client.v1.setup_intents.confirm(intent.id, params={"payment_method": pm})
    return intent.id, pm


def test_checkout_in_setup_mode_makes_the_saved_card_the_default(anon, tenant, stripe_emulator):
    tenant = stripe_customer_ensure(tenant=tenant)
    seti, pm = saved_by_setup_intent(stripe_emulator, tenant.stripe_customer_id, "5555555555554444")
    session = {
        "id": "cs_test_setup",
        "object": "checkout.session",
        "mode": "setup",
        "status": "complete",
        "customer": tenant.stripe_customer_id,
        "setup_intent": seti,
        "metadata": {"tenant_id": "acme"},
    }
    r = deliver(anon, make_event("checkout.session.completed", session))
    assert r.status_code == 200 and r.json()["processed"] is True, r.json()
    tenant.refresh_from_db()
    assert tenant.default_payment_method_id == pm and tenant.payment_method_last4 == "4444"
    customer = stripe_emulator.get(f"/v1/customers/{tenant.stripe_customer_id}")
    assert customer["invoice_settings"]["default_payment_method"] == pm


def test_setup_intent_succeeded_reads_the_intent_from_stripe(anon, tenant, stripe_emulator):
    tenant = stripe_customer_ensure(tenant=tenant)
    seti, pm = saved_by_setup_intent(stripe_emulator, tenant.stripe_customer_id)
    stale = {"id": seti, "object": "setup_intent", "status": "succeeded", "customer": tenant.stripe_customer_id,
             "payment_method": "pm_stale_copy"}  # fmt: skip
    assert deliver(anon, make_event("setup_intent.succeeded", stale)).json()["processed"] is True
    assert Tenant.objects.get(pk="acme").default_payment_method_id == pm


def test_customer_updated_in_the_portal_and_detached(anon, tenant, stripe_emulator):
    tenant = payment_method_set(tenant=tenant, payment_method_id=card(stripe_emulator))
    replacement = card(stripe_emulator, "5555555555554444")
    stripe_emulator.client.v1.payment_methods.attach(replacement, params={"customer": tenant.stripe_customer_id})
    stripe_emulator.client.v1.customers.update(
        tenant.stripe_customer_id, params={"invoice_settings": {"default_payment_method": replacement}}
    )
    stale = {"id": tenant.stripe_customer_id, "object": "customer",
             "invoice_settings": {"default_payment_method": "pm_stale_copy"}}  # fmt: skip
    assert deliver(anon, make_event("customer.updated", stale)).json()["processed"] is True
    tenant.refresh_from_db()
    assert tenant.default_payment_method_id == replacement and tenant.payment_method_last4 == "4444"

    other = {"id": "pm_someone_else", "object": "payment_method", "customer": None}
    assert deliver(anon, make_event("payment_method.detached", other)).json()["processed"] is True
    assert Tenant.objects.get(pk="acme").default_payment_method_id == replacement
    detached = {"id": replacement, "object": "payment_method", "customer": None}
    assert deliver(anon, make_event("payment_method.detached", detached)).json()["processed"] is True
    tenant.refresh_from_db()
    assert tenant.default_payment_method_id == "" and tenant.payment_method_last4 == ""
