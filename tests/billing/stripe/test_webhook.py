"""POST /stripe/webhook: stored first, verified, applied exactly once."""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import Invoice, StripeWebhookEvent, Subscription, Tenant
from tests.billing.stripe.conftest import WEBHOOK_URL, deliver, intent_object, make_event, stripe_signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(tenant, make_invoice, stripe_settings):
    return make_invoice(tenant, amount_due="49.00")


def error(r) -> tuple:
    assert r.json()["type"] in ("client_error", "server_error")
    [e] = r.json()["errors"]
    return r.status_code, e["code"]


def test_payment_intent_succeeded_marks_the_invoice_paid(anon, invoice):
    event = make_event("payment_intent.succeeded", intent_object(invoice), created=1795600000)
    r = deliver(anon, event)
    assert r.status_code == 200 and r.json()["processed"] is True
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00")
    assert invoice.paid_at == datetime.fromtimestamp(1795600000, tz=UTC)
    assert invoice.stripe_payment_intent_id == "pi_test_1"
    stored = StripeWebhookEvent.objects.get()
    assert (stored.event_id, stored.type, stored.signature_valid, stored.processed, stored.error) == (
        event["id"],
        "payment_intent.succeeded",
        True,
        True,
        "",
    )
    assert json.loads(stored.raw_body) == event and stored.processed_at is not None


def test_a_bad_signature_is_400_and_stored_unverified_and_unapplied(anon, invoice):
    event = make_event("payment_intent.succeeded", intent_object(invoice))
    r = deliver(anon, event, secret="whsec_someone_else")
    assert error(r) == (400, "invalid_signature")
    stored = StripeWebhookEvent.objects.get()
    assert (stored.event_id, stored.signature_valid, stored.processed) == (event["id"], False, False)
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


@pytest.mark.parametrize("signature", ["", "garbage", "t=abc,v1=00", "t=1795600000"])
def test_a_missing_or_malformed_signature_is_400(anon, invoice, signature):
    body = json.dumps(make_event("payment_intent.succeeded", intent_object(invoice)))
    r = anon.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        **({"HTTP_STRIPE_SIGNATURE": signature} if signature else {}),
    )
    assert error(r) == (400, "invalid_signature")
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_a_tampered_body_does_not_verify(anon, invoice):
    genuine = json.dumps(make_event("payment_intent.succeeded", intent_object(invoice, amount=100)))
    tampered = genuine.replace('"amount": 100', '"amount": 4900').replace(
        '"amount_received": 100', '"amount_received": 4900'
    )
    r = anon.post(
        WEBHOOK_URL, data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=stripe_signature(genuine)
    )
    assert error(r) == (400, "invalid_signature")
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_signatures_older_than_five_minutes_are_refused(anon, invoice):
    event = make_event("payment_intent.succeeded", intent_object(invoice))
    assert error(deliver(anon, event, timestamp=int(time.time()) - 301)) == (400, "invalid_signature")
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
    # Stripe retries with a fresh signature: accepted.
    assert deliver(anon, event, timestamp=int(time.time()) - 240).status_code == 200
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_a_forged_delivery_first_cannot_poison_the_genuine_one(anon, invoice):
    forged = make_event("payment_intent.succeeded", intent_object(invoice, amount=1), event_id="evt_same")
    assert error(deliver(anon, forged, secret="whsec_forger")) == (400, "invalid_signature")
    genuine = make_event("payment_intent.succeeded", intent_object(invoice), event_id="evt_same")
    r = deliver(anon, genuine)
    assert r.status_code == 200 and r.json()["processed"] is True
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00")
    assert json.loads(StripeWebhookEvent.objects.get().raw_body) == genuine
    # And a forged copy after the fact changes nothing.
    assert error(deliver(anon, forged, secret="whsec_forger")) == (400, "invalid_signature")
    assert json.loads(StripeWebhookEvent.objects.get().raw_body) == genuine


def test_a_replayed_event_changes_nothing(anon, invoice, subscription):
    Invoice.objects.filter(pk=invoice.pk).update(subscription=subscription)
    failed = make_event(
        "payment_intent.payment_failed",
        {
            **intent_object(invoice, status="requires_payment_method"),
            "last_payment_error": {"message": "Your card was declined."},
        },
    )
    assert deliver(anon, failed).json()["processed"] is True
    assert Subscription.objects.get(pk=subscription.pk).status == "past_due"
    Subscription.objects.filter(pk=subscription.pk).update(status="active")  # finance sorted it out

    r = deliver(anon, failed)
    assert r.status_code == 200 and r.json()["replay"] is True
    assert Subscription.objects.get(pk=subscription.pk).status == "active"
    assert StripeWebhookEvent.objects.count() == 1


def test_an_amount_mismatch_is_recorded_not_applied(anon, invoice):
    event = make_event("payment_intent.succeeded", intent_object(invoice, amount=4000))
    r = deliver(anon, event)
    assert r.status_code == 200
    body = r.json()
    assert body["processed"] is False
    assert body["error"] == (
        f"Amount mismatch: Stripe payment pi_test_1 received 40.00 USD but invoice "
        f"{invoice.number} has 49.00 USD due; not applied."
    )
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.amount_paid == Decimal("0.00") and invoice.paid_at is None
    assert invoice.payment_note == f"Stripe event {event['id']}: {body['error']}"
    stored = StripeWebhookEvent.objects.get()
    assert (stored.processed, stored.error) == (False, body["error"])


def test_a_payment_in_another_currency_is_a_mismatch(anon, invoice):
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, currency="eur")))
    assert r.json()["processed"] is False and "4900 minor units of EUR" in r.json()["error"]
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_checkout_session_completed_pays_and_the_intent_event_of_the_same_payment_is_a_no_op(anon, invoice):
    session = {
        "id": "cs_test_9",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "status": "complete",
        "amount_total": 4900,
        "currency": "usd",
        "payment_intent": "pi_from_checkout",
        "metadata": {"invoice_id": str(invoice.id), "tenant_id": "acme"},
    }
    r = deliver(anon, make_event("checkout.session.completed", session, created=1795600000))
    assert r.status_code == 200 and r.json()["processed"] is True
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00")
    assert invoice.paid_at == datetime.fromtimestamp(1795600000, tz=UTC)
    assert (invoice.stripe_checkout_session_id, invoice.stripe_payment_intent_id) == ("cs_test_9", "pi_from_checkout")

    # The PaymentIntent behind the session reports too (it carries the same metadata).
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, intent_id="pi_from_checkout")))
    assert r.json()["processed"] is True and r.json()["error"] is None
    assert Invoice.objects.get(pk=invoice.pk).paid_at == datetime.fromtimestamp(1795600000, tz=UTC)


def test_a_setup_or_unpaid_checkout_session_changes_nothing(anon, invoice):
    for session in (
        {"id": "cs_setup", "mode": "setup", "payment_status": "no_payment_required", "metadata": {"tenant_id": "acme"}},
        {
            "id": "cs_later",
            "mode": "payment",
            "payment_status": "unpaid",
            "amount_total": 4900,
            "currency": "usd",
            "metadata": {"invoice_id": str(invoice.id), "tenant_id": "acme"},
        },
    ):
        r = deliver(anon, make_event("checkout.session.completed", session))
        assert r.json()["processed"] is True
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_a_second_payment_for_a_paid_invoice_is_flagged_for_a_refund(anon, invoice):
    deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, intent_id="pi_a")))
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, intent_id="pi_b")))
    assert r.json()["processed"] is False and "pi_b" in r.json()["error"] and "refund" in r.json()["error"]
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.stripe_payment_intent_id == "pi_a"
    assert "needs a refund" in invoice.payment_note


def test_without_metadata_the_invoice_is_found_by_its_payment_intent(anon, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(stripe_payment_intent_id="pi_known")
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, intent_id="pi_known", metadata={})))
    assert r.json()["processed"] is True
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_an_intent_that_is_not_ours_is_acknowledged(anon, invoice):
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, intent_id="pi_other", metadata={})))
    assert r.status_code == 200 and r.json()["processed"] is True
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_metadata_naming_an_unknown_invoice_is_an_error(anon, invoice):
    meta = {"invoice_id": "00000000-0000-0000-0000-000000000007", "tenant_id": "acme"}
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, metadata=meta)))
    assert r.json()["processed"] is False and "names no invoice" in r.json()["error"]


def test_payment_failed_sets_the_subscription_past_due(anon, invoice, subscription):
    Invoice.objects.filter(pk=invoice.pk).update(subscription=subscription)
    intent = {
        **intent_object(invoice, status="requires_payment_method"),
        "last_payment_error": {"message": "Your card has insufficient funds."},
    }
    r = deliver(anon, make_event("payment_intent.payment_failed", intent))
    assert r.status_code == 200 and r.json()["processed"] is True
    assert Subscription.objects.get(pk=subscription.pk).status == "past_due"
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert invoice.payment_note.endswith("payment pi_test_1 failed: Your card has insufficient funds.")


def test_customer_deleted_forgets_the_customer_id(anon, tenant, other_tenant, stripe_settings):
    Tenant.objects.filter(pk="acme").update(stripe_customer_id="cus_acme", default_payment_method_id="pm_acme")
    Tenant.objects.filter(pk="globex").update(stripe_customer_id="cus_globex", default_payment_method_id="pm_globex")
    r = deliver(anon, make_event("customer.deleted", {"id": "cus_acme", "object": "customer", "deleted": True}))
    assert r.status_code == 200 and r.json()["processed"] is True
    assert dict(Tenant.objects.values_list("id", "stripe_customer_id")) == {"acme": "", "globex": "cus_globex"}
    # Its payment methods went with it: nothing may charge them any more.
    assert dict(Tenant.objects.values_list("id", "default_payment_method_id")) == {"acme": "", "globex": "pm_globex"}


def test_unknown_event_types_are_acknowledged(anon, invoice):
    r = deliver(anon, make_event("invoice.finalized", {"id": "in_1", "object": "invoice"}))
    assert r.status_code == 200 and r.json()["processed"] is True and r.json()["type"] == "invoice.finalized"
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_a_verified_but_malformed_event_is_recorded_not_a_500(anon, invoice):
    r = deliver(anon, make_event("payment_intent.succeeded", {"object": "payment_intent"}))
    assert r.status_code == 200 and r.json()["processed"] is False
    assert r.json()["error"].startswith("Malformed payment_intent.succeeded event")


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"type": "payment_intent.succeeded"}'])
def test_a_body_that_is_not_an_event_is_400_and_not_stored(anon, stripe_settings, body):
    assert error(deliver(anon, body)) == (400, "invalid_payload")
    assert error(deliver(anon, body, secret="whsec_x")) == (400, "invalid_signature")
    assert StripeWebhookEvent.objects.count() == 0


def test_without_a_webhook_secret_it_is_503_but_the_event_is_stored(anon, invoice, stripe_settings):
    stripe_settings.STRIPE_WEBHOOK_SECRET = ""
    r = deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice)))
    assert error(r) == (503, "payment_provider_not_configured")
    assert StripeWebhookEvent.objects.filter(signature_valid=False, processed=False).count() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_the_webhook_needs_no_token_and_ignores_one(api, invoice):
    r = deliver(api("service"), make_event("payment_intent.succeeded", intent_object(invoice)))
    assert r.status_code == 200 and Invoice.objects.get(pk=invoice.pk).status == "paid"
