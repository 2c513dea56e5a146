"""Automatic collection, POST …/pay, the payment attempts and mark-paid (section 11), against the emulator."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import Invoice, PaymentAttempt, Subscription
from billing.services.payments import collect
from billing.services.payments.settings import payment_method_set
from billing.tasks.payments import invoice_collect, payment_attempt_run
from tests.billing.stripe.test_billing_settings import card

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


def pay(client, invoice):
    return client.post(f"{BASE}/invoices/{invoice.id}/pay")


def with_card(tenant, emulator, number="4242424242424242"):
    return payment_method_set(tenant=tenant, payment_method_id=card(emulator, number))


def intents(emulator) -> list[dict]:
    return emulator.get("/v1/payment_intents")["data"]


def test_pay_charges_the_default_card_and_the_invoice_is_paid(api, tenant, subscription, make_invoice, stripe_emulator):
    Subscription.objects.filter(pk=subscription.pk).update(status="past_due")
    with_card(tenant, stripe_emulator)
    invoice = make_invoice(tenant, amount_due="49.00", subscription=subscription)

    r = pay(api("tenant", "acme"), invoice)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "paid" and body["amount_paid"] == "49.00" and body["amount_remaining"] == "0.00"
    assert body["attempt_count"] == 1 and body["next_payment_attempt"] is None
    (intent,) = intents(stripe_emulator)
    assert intent["amount"] == 4900 and intent["status"] == "succeeded"
    assert intent["metadata"]["invoice_id"] == str(invoice.id) and intent["metadata"]["attempt"] == "1"
    assert body["stripe_payment_intent_id"] == intent["id"]
    assert Subscription.objects.get(pk=subscription.pk).status == "active"

    payments = api("tenant", "acme").get(f"{BASE}/invoices/{invoice.id}/payments").json()
    assert payments["count"] == 1
    (attempt,) = payments["results"]
    assert set(attempt) == {
        "id", "invoice_id", "attempt", "status", "amount", "currency", "stripe_payment_intent_id",
        "failure_code", "failure_message", "created_at", "next_retry_at",
    }  # fmt: skip
    assert attempt["status"] == "succeeded" and attempt["amount"] == "49.00" and attempt["attempt"] == 1
    assert attempt["stripe_payment_intent_id"] == intent["id"] and attempt["next_retry_at"] is None


def test_a_declined_card_is_402_recorded_and_scheduled(api, clock, tenant, subscription, make_invoice, stripe_emulator):
    with_card(tenant, stripe_emulator, "4000000000000341")
    invoice = make_invoice(tenant, subscription=subscription)
    now = clock.set(clock.now().replace(microsecond=0))

    r = pay(api("finance"), invoice)
    assert r.status_code == 402
    error = r.json()["errors"][0]
    assert error["code"] == "payment_failed" and "declined" in error["detail"].lower()
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt == now + timedelta(days=3)
    assert Subscription.objects.get(pk=subscription.pk).status == "past_due"
    (attempt,) = api("finance").get(f"{BASE}/invoices/{invoice.id}/payments").json()["results"]
    assert attempt["status"] == "failed" and attempt["failure_code"] == "card_declined"
    assert attempt["next_retry_at"] == (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pay_conflicts(api, tenant, other_tenant, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant)
    r = pay(api("finance"), invoice)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_payment_method"

    with_card(tenant, stripe_emulator)
    PaymentAttempt.objects.create(invoice=invoice, attempt=1, trigger="manual", amount=Decimal("49"), currency="USD")
    Invoice.objects.filter(pk=invoice.pk).update(attempt_count=1)
    r = pay(api("finance"), invoice)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_payment_underway"
    assert intents(stripe_emulator) == []

    paid = make_invoice(tenant, status="paid")
    r = pay(api("finance"), paid)
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_not_payable"


def test_role_matrix(api, tenant, other_tenant, make_invoice, stripe_emulator):
    invoice = make_invoice(tenant)
    for path, method, other in (("pay", "post", 404), ("payments", "get", 404), ("mark-paid", "post", 403)):
        url = f"{BASE}/invoices/{invoice.id}/{path}"
        r = getattr(api("tenant", "globex"), method)(url, {"reference": "x"}, format="json")
        assert r.status_code == other and r.json()["type"] == "client_error", path
        assert getattr(api("service"), method)(url, {"reference": "x"}, format="json").status_code == 403, path
    r = api("tenant", "acme").post(f"{BASE}/invoices/{invoice.id}/mark-paid", {"reference": "x"}, format="json")
    assert r.status_code == 403
    assert api("tenant", "acme").get(f"{BASE}/invoices/{invoice.id}/payments").status_code == 200


def test_mark_paid_records_a_bank_transfer(api, tenant, subscription, make_invoice):
    Subscription.objects.filter(pk=subscription.pk).update(status="past_due")
    invoice = make_invoice(tenant, amount_due="120.00", subscription=subscription)
    r = api("finance").post(
        f"{BASE}/invoices/{invoice.id}/mark-paid", {"reference": "WIRE-7781", "paid_at": "2026-11-20"}, format="json"
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "paid" and body["amount_paid"] == "120.00" and body["paid_at"] == "2026-11-20T00:00:00Z"
    assert Invoice.objects.get(pk=invoice.pk).payment_reference == "WIRE-7781"
    assert Subscription.objects.get(pk=subscription.pk).status == "active"

    again = api("finance").post(f"{BASE}/invoices/{invoice.id}/mark-paid", {"reference": "again"}, format="json")
    assert again.status_code == 409
    missing = api("finance").post(f"{BASE}/invoices/{make_invoice(tenant).id}/mark-paid", {}, format="json")
    assert missing.status_code == 400 and missing.json()["errors"][0]["attr"] == "reference"


def test_the_same_attempt_run_twice_charges_once(tenant, make_invoice, stripe_emulator):
    with_card(tenant, stripe_emulator)
    invoice = make_invoice(tenant)
    attempt = collect.payment_attempt_begin(invoice_id=invoice.pk, trigger="automatic")
    assert payment_attempt_run.delay(str(attempt.pk)).get() == "succeeded"
    assert payment_attempt_run.delay(str(attempt.pk)).get() == "succeeded"
    assert invoice_collect.delay(str(invoice.pk)).get() == "succeeded"
    assert len(intents(stripe_emulator)) == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00") and invoice.attempt_count == 1


def test_a_worker_killed_after_stripe_answered_charges_once(
    settings, tenant, make_invoice, stripe_emulator, monkeypatch
):
    """Stripe charged, then the worker died before recording it: the sweeper asks again with the same key."""
    from billing.services.payments.sweep import payments_sweep

    with_card(tenant, stripe_emulator)
    invoice = make_invoice(tenant)
    real_record = collect.payment_attempt_record

    def killed(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(collect, "payment_attempt_record", killed)
    with pytest.raises(SystemExit):
        invoice_collect.delay(str(invoice.pk))
    assert len(intents(stripe_emulator)) == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
    assert PaymentAttempt.objects.get(invoice=invoice).status == "processing"

    monkeypatch.setattr(collect, "payment_attempt_record", real_record)
    settings.BILLING_PAYMENT_RESUME_AFTER_SECONDS = 0
    assert payments_sweep()["resumed"] == 1
    assert len(intents(stripe_emulator)) == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00")
    assert PaymentAttempt.objects.get(invoice=invoice).status == "succeeded"
    assert payments_sweep() == {"retries": 0, "resumed": 0, "collected": 0, "refunds": 0, "errors": 0}


def test_finalize_charges_automatically(
    api, tenant, subscription, make_invoice, stripe_emulator, django_capture_on_commit_callbacks
):
    with_card(tenant, stripe_emulator)
    draft = make_invoice(tenant, status="draft", subscription=subscription)
    with django_capture_on_commit_callbacks(execute=True):
        r = api("finance").post(f"{BASE}/invoices/{draft.id}/finalize")
    assert r.status_code == 200, r.json()
    invoice = Invoice.objects.get(pk=draft.pk)
    assert invoice.amount_due > 0 and invoice.collection_method == "charge_automatically"
    assert invoice.status == "paid" and invoice.amount_paid == invoice.amount_due and invoice.attempt_count == 1
    (intent,) = intents(stripe_emulator)
    assert intent["amount"] == int(invoice.amount_due * 100)


def test_send_invoice_tenants_are_not_charged_at_finalize(
    api, tenant, subscription, make_invoice, stripe_emulator, django_capture_on_commit_callbacks
):
    with_card(tenant, stripe_emulator)
    api("finance").put(f"{BASE}/tenants/acme/billing-settings", {"collection_method": "send_invoice"}, format="json")
    draft = make_invoice(tenant, status="draft", subscription=subscription)
    with django_capture_on_commit_callbacks(execute=True):
        body = api("finance").post(f"{BASE}/invoices/{draft.id}/finalize").json()
    assert body["status"] == "open" and body["collection_method"] == "send_invoice" and body["attempt_count"] == 0
    assert intents(stripe_emulator) == []
