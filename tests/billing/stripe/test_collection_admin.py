"""The finance admin for collecting and correcting: tenant billing settings, credit note and mark-paid forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from billing.models import CreditNote, Invoice, PaymentAttempt

pytestmark = pytest.mark.django_db
URL = "/admin/billing/invoice/"


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345678")
    client = Client()
    client.force_login(user)
    return client


def test_create_credit_note_from_the_invoice_and_download_its_pdf(admin_client, tenant, make_invoice):
    invoice = make_invoice(tenant, amount_due="49.00")
    PaymentAttempt.objects.create(
        invoice=invoice, attempt=1, trigger="automatic", status="failed", amount=Decimal("49"), currency="USD",
        failure_code="card_declined",
    )  # fmt: skip
    r = admin_client.post(URL, {"action": "create_credit_note", "_selected_action": [str(invoice.pk)]})
    assert r.status_code == 302 and r.url.endswith(f"/{invoice.pk}/credit-note/")
    form = admin_client.get(r.url)
    assert form.status_code == 200 and "Create credit note" in form.content.decode()

    bad = admin_client.post(r.url, {"amount": "50.00", "reason": "order_change"})
    assert bad.status_code == 200 and "can still be credited" in bad.content.decode()
    assert CreditNote.objects.count() == 0

    done = admin_client.post(r.url, {"amount": "9.00", "reason": "order_change", "memo": "Outage"}, follow=True)
    note = CreditNote.objects.get()
    assert f"Created credit note {note.number}" in done.content.decode()
    page = admin_client.get(f"{URL}{invoice.pk}/change/").content.decode()
    assert note.number in page and "card_declined" in page and "USD 40.00" in page  # remaining
    pdf = admin_client.get(f"/admin/billing/creditnote/{note.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_mark_paid_form(admin_client, tenant, make_invoice):
    invoice = make_invoice(tenant)
    r = admin_client.post(URL, {"action": "mark_paid", "_selected_action": [str(invoice.pk)]})
    done = admin_client.post(r.url, {"reference": "WIRE-42"}, follow=True)
    assert "Marked" in done.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.payment_reference == "WIRE-42" and invoice.amount_paid == Decimal("49")
    again = admin_client.post(r.url, {"reference": "WIRE-43"}, follow=True)
    assert "refused" in again.content.decode()
    assert Invoice.objects.get(pk=invoice.pk).payment_reference == "WIRE-42"


def test_tenant_page_shows_and_edits_billing_settings(admin_client, tenant):
    tenant.default_payment_method_id = "pm_1"
    tenant.payment_method_brand, tenant.payment_method_last4 = "visa", "4242"
    tenant.payment_method_exp_month, tenant.payment_method_exp_year = 12, 2034
    tenant.save()
    page = admin_client.get(f"/admin/billing/tenant/{tenant.pk}/change/").content.decode()
    assert "visa •••• 4242, expires 12/2034" in page and "billing_email" in page and "collection_method" in page


def test_dashboard_shows_net_revenue_refunds_and_dunning(admin_client, clock, tenant, make_invoice):
    from datetime import timedelta

    from billing.services.credit_notes.create import credit_note_create

    now = clock.now()
    invoice = make_invoice(tenant, amount_due="100.00")
    credit_note_create(invoice=invoice, amount="30.00", reason="other")
    retrying = make_invoice(tenant, amount_due="49.00")
    Invoice.objects.filter(pk__in=[invoice.pk, retrying.pk]).update(finalized_at=now)
    Invoice.objects.filter(pk=retrying.pk).update(attempt_count=2, next_payment_attempt=now + timedelta(days=2))
    page = admin_client.get("/admin/dashboard/")
    body = page.content.decode()
    assert page.status_code == 200
    cards = {c.key: c for c in page.context["dashboard_cards"]}
    # Both invoices were finalized this month: 100.00 + 49.00 invoiced, 30.00 credited.
    assert cards["net_revenue"].value.replace(",", "").endswith(" 119.00")
    assert "30.00 credited" in cards["net_revenue"].note
    assert cards["dunning"].value.endswith("49.00") and cards["dunning"].note.startswith("1 invoice(s)")
    assert retrying.number in body and 'id="dunning"' in body
    assert admin_client.get(cards["dunning"].url).status_code == 200
