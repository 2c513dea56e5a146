"""The invoice PDF: what a customer reads on it, how it is served, stored and re-rendered."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.models import Discount, Invoice, Tenant
from tests.billing.invoices.conftest import BASE, grant, utc

pytestmark = pytest.mark.django_db

JAN = utc(2026, 1, 1)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def acme(sub_factory, clock, record):
    clock.set(utc(2026, 2, 10, 12))
    Tenant.objects.filter(id="acme").delete()
    Tenant.objects.create(
        id="acme",
        name="Acme Corp",
        email="ap@acme.example",
        address="9 Road Runner Ave\nPhoenix, AZ",
        tax_rate=Decimal("0.08"),
    )
    sub = sub_factory("acme", "pro", started_at=JAN)
    Discount.objects.create(subscription=sub, percent_off=Decimal("10"), duration="forever")
    grant("acme", "5.00")
    record("acme", "api_calls", 1_234_567, utc(2026, 1, 5, 10))
    record("acme", "storage_gb", 12, utc(2026, 1, 15))
    record("acme", "jobs", 1, utc(2026, 1, 16))
    return sub


def test_draft_pdf_is_rendered_fresh_with_a_draft_mark(as_, acme, record, settings):
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    r = as_("tenant", "acme").get(f"{BASE}/invoices/{draft['id']}/pdf")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"] == f'attachment; filename="{draft["id"]}.pdf"'
    text = pdf_text(r.content)
    assert "DRAFT" in text and "Not yet assigned" in text
    assert Invoice.objects.get(pk=draft["id"]).pdf is None  # drafts are never stored
    # A draft is rendered fresh every time: new usage shows up at once.
    record("acme", "storage_gb", 40, utc(2026, 1, 20))
    as_("finance").delete(f"{BASE}/invoices/{draft['id']}")
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    text = pdf_text(as_("finance").get(f"{BASE}/invoices/{draft['id']}/pdf").content)
    assert "3.50" in text  # storage now peaks at 40 GB: (40 − 5) × 0.10


def test_finalized_pdf_has_everything_a_customer_needs(as_, acme, settings, django_capture_on_commit_callbacks):
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        inv = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize").json()
    stored = Invoice.objects.get(pk=inv["id"])
    assert stored.pdf and stored.pdf_rendered_at is not None  # rendered by the task at finalize (eager here)
    r = as_("tenant", "acme").get(f"{BASE}/invoices/{inv['id']}/pdf")
    assert r["Content-Disposition"] == 'attachment; filename="INV-2026-000001.pdf"'
    assert r.content == bytes(stored.pdf)
    text = pdf_text(r.content)
    seller = settings.BILLING_SELLER
    for expected in (
        seller["name"],
        "1 Infrastructure Way",
        seller["email"],
        seller["tax_id"],
        "Acme Corp",
        "9 Road Runner Ave",
        "ap@acme.example",
        "INV-2026-000001",
        "10 Feb 2026",
        "12 Mar 2026",  # issue and due dates
        "01 Jan 2026 – 01 Feb 2026",
        "Pro — base price",
        "Pro — API calls",
        "1,234,567",
        "0.0004",
        "442.91",  # 990,000 × 0.0004 + 234,567 × 0.0002
        "Tier 1",
        "10,000",
        "Tier 2",
        "990,000",
        "396.00",
        "Tier 3",
        "234,567",
        "46.91",
        "Pro — Storage",
        "0.70",
        "Pro — Jobs",
    ):
        assert expected in text, expected
    assert inv["subtotal"] == "493.61"  # 49 + 442.91 + 0.70 + 1.00
    # discount 10 % = 49.36; tax (493.61 − 49.36) × 8 % = 35.54; total 479.79; credits 5.00
    assert inv["discount"] == "49.36" and inv["tax"] == "35.54" and inv["total"] == "479.79"
    assert inv["credits_applied"] == "5.00" and inv["amount_due"] == "474.79"
    for label, value in (
        ("Subtotal", "493.61"),
        ("Discount (10% off)", "49.36"),
        ("Tax (8%)", "35.54"),
        ("Total", "479.79"),
        ("Credits applied", "5.00"),
        ("Amount due (USD)", "474.79"),
    ):
        assert label in text and value in text, label
    assert "DRAFT" not in text


def test_missing_pdf_is_rendered_on_demand_and_stored(as_, acme, settings):
    settings.BILLING_PDF_ON_FINALIZE = False
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    inv = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize").json()
    assert Invoice.objects.get(pk=inv["id"]).pdf is None
    r = as_("finance").get(f"{BASE}/invoices/{inv['id']}/pdf")
    assert r.status_code == 200 and "INV-2026-000001" in pdf_text(r.content)
    assert bytes(Invoice.objects.get(pk=inv["id"]).pdf) == r.content


def test_voided_invoice_pdf_says_void(as_, acme):
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    inv = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize").json()
    as_("finance").post(f"{BASE}/invoices/{inv['id']}/void")
    from billing.services.invoices import invoice_render_pdf

    text = pdf_text(bytes(invoice_render_pdf(invoice_id=inv["id"]).pdf))
    assert "VOID" in text and "not payable" in text


def test_pdf_is_rendered_again_once_the_invoice_is_paid(sub_factory, clock):
    """A PDF stored at finalize shows the amount due; after payment the download shows a zero balance."""
    import io

    from pypdf import PdfReader

    from billing.models import Invoice
    from billing.services.invoices import invoice_finalize, invoice_generate_for_period, invoice_pdf_bytes
    from billing.services.transitions import invoice_transition

    clock.set(utc(2026, 1, 1))
    sub = sub_factory("payer", "starter", started_at=utc(2026, 1, 1))
    clock.set(utc(2026, 2, 2))
    invoice = invoice_finalize(
        invoice=invoice_generate_for_period(subscription=sub, period_start=utc(2026, 1, 1), period_end=utc(2026, 2, 1))
    )
    text = lambda pdf: " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)  # noqa: E731
    assert "AMOUNT DUE" in text(invoice_pdf_bytes(invoice=Invoice.objects.get(pk=invoice.pk)))
    clock.set(utc(2026, 2, 5))
    invoice_transition(invoice=invoice, to="paid", amount_paid=invoice.amount_due, paid_at=utc(2026, 2, 5))
    paid_text = text(invoice_pdf_bytes(invoice=Invoice.objects.get(pk=invoice.pk)))
    assert "BALANCE DUE" in paid_text and "Balance due (USD)" in paid_text and "0.00" in paid_text


@pytest.mark.parametrize("accept", ["application/pdf", "*/*", None, "application/pdf, application/json;q=0.5"])
def test_pdf_is_served_whatever_a_pdf_reader_accepts(as_, acme, accept):
    """Issue 12, defect 8: `Accept: application/pdf` (what the endpoint serves) was answered 406."""
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    r = as_("tenant", "acme").get(f"{BASE}/invoices/{draft['id']}/pdf", **headers)
    assert r.status_code == 200, r.content[:200]
    assert r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert "DRAFT" in pdf_text(r.content)


def test_pdf_errors_are_json_in_the_error_shape_even_when_a_pdf_was_asked(as_, acme):
    draft = as_("finance").post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    r = as_("tenant", "globex").get(f"{BASE}/invoices/{draft['id']}/pdf", HTTP_ACCEPT="application/pdf")
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json"
    assert r.json()["errors"][0]["code"] == "not_found"
