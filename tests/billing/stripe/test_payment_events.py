"""Section 13 events of payment collection: failed and action-required charges, settling, payment methods."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.models import Subscription, Tenant
from notifications.models import EmailMessage, Event
from tests.billing.stripe.test_collection import pay, with_card

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


def objects(type_: str) -> list[dict]:
    return [e.data["object"] for e in Event.objects.filter(type=type_).order_by("seq")]


def test_a_declined_charge_records_payment_failed_with_the_next_retry_and_queues_the_mail(
    api, clock, tenant, subscription, make_invoice, stripe_emulator
):
    Tenant.objects.filter(pk="acme").update(billing_email="ap@acme.test")
    with_card(tenant, stripe_emulator, "4000000000000341")
    invoice = make_invoice(tenant, subscription=subscription)
    now = clock.set(clock.now().replace(microsecond=0))
    assert pay(api("finance"), invoice).status_code == 402

    [failed] = objects("invoice.payment_failed")
    assert failed == api("finance").get(f"{BASE}/invoices/{invoice.id}").json()
    assert failed["next_payment_attempt"] == (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    [past_due] = objects("subscription.updated")
    assert past_due["status"] == "past_due" and past_due["id"] == str(subscription.id)
    assert [e.tenant_id for e in Event.objects.all()] == ["acme"] * Event.objects.count()

    from notifications.services.dispatch import events_dispatch
    from notifications.services.emails import email_build

    events_dispatch()
    mail = EmailMessage.objects.get(kind="payment_failed")
    assert mail.to == "ap@acme.test" and invoice.number in mail.subject
    body = email_build(mail).body
    assert f"Next retry: {(now + timedelta(days=3)).date().isoformat()}" in body


def test_paying_a_past_due_invoice_records_paid_and_the_subscription_back_to_active(
    api, tenant, subscription, make_invoice, stripe_emulator
):
    Subscription.objects.filter(pk=subscription.pk).update(status="past_due")
    with_card(tenant, stripe_emulator)
    invoice = make_invoice(tenant, amount_due="49.00", subscription=subscription)
    answer = pay(api("tenant", "acme"), invoice).json()
    [paid] = objects("invoice.paid")
    assert paid == answer and paid["status"] == "paid"
    assert objects("subscription.updated")[-1]["status"] == "active"


def test_setting_and_removing_the_payment_method_records_payment_method_updated(api, tenant, stripe_emulator):
    with_card(tenant, stripe_emulator)
    [added] = objects("payment_method.updated")
    assert added == api("finance").get(f"{BASE}/tenants/acme/billing-settings").json()
    assert added["payment_method"]["last4"] == "4242"
    assert api("finance").delete(f"{BASE}/tenants/acme/payment-method").status_code == 204
    assert objects("payment_method.updated")[-1]["payment_method"] is None


def test_a_credit_note_records_credit_note_created_then_invoice_paid_and_mails_its_pdf(api, tenant, make_invoice):
    import io

    from pypdf import PdfReader

    from notifications.services.dispatch import events_dispatch
    from notifications.services.emails import email_build
    from tests.billing.stripe.test_credit_notes import credit, taxed_invoice

    Tenant.objects.filter(pk="acme").update(billing_email="ap@acme.test")
    invoice = taxed_invoice(make_invoice, tenant)
    note = credit(api("finance"), invoice, "120.00").json()
    types = list(Event.objects.order_by("seq").values_list("type", flat=True))
    assert types == ["credit_note.created", "invoice.paid"]
    assert objects("credit_note.created") == [note]
    assert objects("invoice.paid")[0]["amount_remaining"] == "0.00"

    events_dispatch()
    mail = EmailMessage.objects.get(kind="credit_note")
    built = email_build(mail)
    assert note["number"] in mail.subject and note["number"] in built.body
    [(filename, content, mimetype)] = built.attachments
    assert filename == f"{note['number']}.pdf" and mimetype == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert note["number"] in text and invoice.number in text
    assert EmailMessage.objects.filter(kind="receipt").count() == 1
