"""The finance back office: webhook events listed and filtered, failed ones reprocessed safely."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client

from billing.models import Invoice, StripeWebhookEvent
from tests.billing.stripe.conftest import deliver, intent_object, make_event

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/billing/stripewebhookevent/"


@pytest.fixture
def finance_staff():
    call_command("create_finance_user", "fiona", "--password", "correct-horse-battery", stdout=io.StringIO())
    client = Client()
    assert client.login(username="fiona", password="correct-horse-battery")
    return client


def test_finance_lists_filters_and_reprocesses_failed_events(
    anon, tenant, make_invoice, stripe_settings, finance_staff
):
    invoice = make_invoice(tenant, status="draft", amount_due="49.00")
    early = make_event("payment_intent.succeeded", intent_object(invoice), event_id="evt_early")
    r = deliver(anon, early)
    assert r.json()["processed"] is False and "is draft" in r.json()["error"]
    deliver(anon, make_event("customer.created", {"id": "cus_1"}, event_id="evt_fine"))
    deliver(anon, make_event("customer.created", {"id": "cus_2"}, event_id="evt_forged"), secret="whsec_forger")

    page = finance_staff.get(CHANGELIST, {"processed__exact": "0"})
    assert page.status_code == 200
    assert b"evt_early" in page.content and b"evt_forged" in page.content and b"evt_fine" not in page.content
    page = finance_staff.get(CHANGELIST, {"signature_valid__exact": "0"})
    assert b"evt_forged" in page.content and b"evt_early" not in page.content
    page = finance_staff.get(CHANGELIST, {"q": "evt_fine"})
    assert b"evt_fine" in page.content and b"evt_early" not in page.content
    assert finance_staff.get(f"{CHANGELIST}evt_early/change/").status_code == 200

    # The invoice gets finalized after all; finance reprocesses everything that is selected.
    Invoice.objects.filter(pk=invoice.pk).update(status="open", number="INV-2026-000099")
    everything = ["evt_early", "evt_fine", "evt_forged"]
    r = finance_staff.post(CHANGELIST, {"action": "reprocess", "_selected_action": everything}, follow=True)
    assert r.status_code == 200
    assert b"Reprocessed 1 event(s); skipped 2 already processed or unverified." in r.content
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00")
    assert dict(StripeWebhookEvent.objects.values_list("event_id", "processed")) == {
        "evt_early": True,
        "evt_fine": True,
        "evt_forged": False,
    }

    # Reprocessing again (or Stripe redelivering) is harmless.
    paid_at = invoice.paid_at
    finance_staff.post(CHANGELIST, {"action": "reprocess", "_selected_action": everything})
    assert deliver(anon, early).json()["replay"] is True
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at == paid_at


def test_a_still_failing_event_is_reported_and_stays_unprocessed(
    anon, tenant, make_invoice, stripe_settings, finance_staff
):
    invoice = make_invoice(tenant, amount_due="49.00")
    deliver(anon, make_event("payment_intent.succeeded", intent_object(invoice, amount=1), event_id="evt_short"))
    r = finance_staff.post(CHANGELIST, {"action": "reprocess", "_selected_action": ["evt_short"]}, follow=True)
    assert b"Still failing: evt_short: Amount mismatch" in r.content
    assert StripeWebhookEvent.objects.get().processed is False
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
