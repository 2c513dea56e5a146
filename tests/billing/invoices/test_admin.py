"""The finance admin for invoices: list, read-only once finalized, actions that report and refuse."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from billing.models import Invoice, InvoiceLine
from billing.services.invoices import InvoiceImmutable, invoice_finalize, invoice_generate_for_period
from tests.billing.invoices.conftest import utc

pytestmark = pytest.mark.django_db

JAN, FEB, MAR = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1)
URL = "/admin/billing/invoice/"


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345678")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def invoices(sub_factory, clock):
    clock.set(utc(2026, 3, 5))
    sub = sub_factory("acme", "starter", started_at=JAN)
    draft = invoice_generate_for_period(subscription=sub, period_start=FEB, period_end=MAR)
    opened = invoice_finalize(invoice=invoice_generate_for_period(subscription=sub, period_start=JAN, period_end=FEB))
    return draft, opened


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def act(client, action: str, *invoices):
    return client.post(URL, {"action": action, "_selected_action": [str(i.pk) for i in invoices]}, follow=True)


def test_changelist_filters_search_and_pdf_column(admin_client, invoices):
    draft, opened = invoices
    r = admin_client.get(URL)
    assert r.status_code == 200
    body = r.content.decode()
    assert opened.number in body and "Download PDF" in body
    assert admin_client.get(URL + "?status__exact=open").content.decode().count("INV-2026-000001") >= 1
    assert "INV-2026-000001" not in admin_client.get(URL + "?status__exact=draft").content.decode()
    assert admin_client.get(URL + "?q=INV-2026-000001").status_code == 200
    assert admin_client.get(URL + "?q=acme&currency__exact=USD&period_start__year=2026").status_code == 200
    pdf = admin_client.get(f"{URL}{opened.pk}/pdf/")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="INV-2026-000001.pdf"'


def test_finalized_invoice_is_read_only(admin_client, invoices):
    draft, opened = invoices
    r = admin_client.get(f"{URL}{opened.pk}/change/")
    assert r.status_code == 200
    form = r.context["adminform"].form
    assert list(form.fields) == []  # nothing editable
    r = admin_client.get(f"{URL}{draft.pk}/change/")
    assert list(r.context["adminform"].form.fields) == ["payment_note"]
    assert admin_client.get(f"{URL}{opened.pk}/delete/").status_code == 403
    # In code too: a finalized invoice's lines and totals refuse to change.
    line = opened.lines.first()
    line.amount = 1
    with pytest.raises(InvoiceImmutable):
        line.save()
    stored = Invoice.objects.get(pk=opened.pk)
    stored.total = 0
    with pytest.raises(InvoiceImmutable):
        stored.save()
    stored = Invoice.objects.get(pk=opened.pk)
    stored.payment_note = "called the customer"
    stored.save(update_fields=["payment_note"])


def test_actions_report_what_they_did_and_refuse_politely(admin_client, invoices):
    draft, opened = invoices
    r = act(admin_client, "finalize", draft, opened)
    text = messages_of(r)
    assert r.status_code == 200
    assert any("Finalized 1 invoice(s): INV-2026-000002" in m for m in text)
    assert any("Not finalized: INV-2026-000001" in m and "only a draft" in m for m in text)
    r = act(admin_client, "mark_uncollectible", opened)
    assert any("Marked uncollectible 1 invoice(s)" in m for m in messages_of(r))
    assert Invoice.objects.get(pk=opened.pk).status == "uncollectible"
    r = act(admin_client, "void", opened, draft)
    text = messages_of(r)
    assert any("Voided 1 invoice(s): INV-2026-000002" in m for m in text)
    assert any("Not voided: INV-2026-000001" in m for m in text)
    r = act(admin_client, "regenerate_pdf", opened)
    assert any("Regenerated the PDF of 1 invoice(s)" in m for m in messages_of(r))
    assert Invoice.objects.get(pk=opened.pk).pdf
    r = act(admin_client, "download_pdf", opened)
    assert r["Content-Type"] == "application/pdf"
    r = act(admin_client, "download_pdf", opened, draft)
    assert any("Select exactly one" in m for m in messages_of(r))


def test_delete_drafts_action_only_deletes_drafts(admin_client, invoices):
    draft, opened = invoices
    r = act(admin_client, "delete_drafts", draft, opened)
    text = messages_of(r)
    assert any("Deleted 1 invoice(s)" in m for m in text)
    assert any("Not deleted: INV-2026-000001" in m for m in text)
    assert not Invoice.objects.filter(pk=draft.pk).exists()
    assert InvoiceLine.objects.filter(invoice_id=opened.pk).exists()
