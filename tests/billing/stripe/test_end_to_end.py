"""The whole payment path against the Stripe emulator: intent, customer pays, signed webhook, paid."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import Invoice, StripeWebhookEvent, Subscription
from tests.billing.stripe.conftest import deliver

pytestmark = pytest.mark.django_db


def test_open_invoice_is_paid_through_the_emulator_and_a_replay_changes_nothing(
    api, anon, tenant, make_invoice, stripe_emulator
):
    invoice = make_invoice(tenant, amount_due="49.00")
    acme = api("tenant", "acme")

    r = acme.post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent")
    assert r.status_code == 201, r.json()
    intent = r.json()
    assert intent["amount"] == 4900 and intent["currency"] == "USD"
    assert intent["status"] == "requires_payment_method" and intent["client_secret"].startswith(intent["id"])

    # The customer pays with a test card; Stripe (the emulator) records payment_intent.succeeded.
    assert stripe_emulator.pay(intent["id"]).status == "succeeded"
    event = stripe_emulator.event("payment_intent.succeeded", intent["id"])
    assert event["data"]["object"]["metadata"]["invoice_id"] == str(invoice.id)

    r = deliver(anon, event)
    assert r.status_code == 200, r.json()
    assert r.json() == {
        "id": event["id"],
        "type": "payment_intent.succeeded",
        "processed": True,
        "replay": False,
        "error": None,
    }
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.amount_paid == Decimal("49.00")
    assert invoice.paid_at == datetime.fromtimestamp(event["created"], tz=UTC)
    assert invoice.stripe_payment_intent_id == intent["id"]
    paid = Invoice.objects.filter(pk=invoice.pk).values().get()

    replay = deliver(anon, event)
    assert replay.status_code == 200
    assert replay.json()["replay"] is True and replay.json()["processed"] is True
    assert Invoice.objects.filter(pk=invoice.pk).values().get() == paid
    assert StripeWebhookEvent.objects.count() == 1

    # Paid now: asking for an intent again is a conflict.
    again = acme.post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "invoice_not_payable"


def test_declined_card_sets_the_subscription_past_due(api, anon, tenant, subscription, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant, amount_due="49.00", subscription=subscription)
    intent = api("finance").post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent").json()

    # 4000000000000341 attaches fine but its charge is declined.
    assert stripe_emulator.pay(intent["id"], card="4000000000000341").status == "requires_payment_method"
    event = stripe_emulator.event("payment_intent.payment_failed", intent["id"])

    r = deliver(anon, json.dumps(event))
    assert r.status_code == 200 and r.json()["processed"] is True
    assert Subscription.objects.get(pk=subscription.pk).status == "past_due"
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.amount_paid == Decimal("0.00")
    assert intent["id"] in invoice.payment_note and "failed" in invoice.payment_note

    # The customer retries with a good card on the same (still live) intent.
    retry = api("tenant", "acme").post(f"/api/v1/billing/invoices/{invoice.id}/payment-intent").json()
    assert retry["id"] == intent["id"] and retry["status"] == "requires_payment_method"
