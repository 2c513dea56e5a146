"""Credit notes and refunds (section 12) against the Stripe emulator."""

import io
import threading
from decimal import Decimal

import pytest
from django.db import connection
from pypdf import PdfReader

from billing.models import CreditGrant, CreditNote, Invoice
from billing.services.credit_notes import refund as refund_service
from billing.stripe import client as gateway
from tests.billing.stripe.conftest import deliver, make_event
from tests.billing.stripe.test_collection import with_card
from tests.conftest import make_client

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


def taxed_invoice(make_invoice, tenant, *, status="open", subscription=None) -> Invoice:
    """Return an invoice of 100.00 + 20.00 tax = 120.00."""
    invoice = make_invoice(tenant, amount_due="120.00", status=status, subscription=subscription)
    Invoice.objects.filter(pk=invoice.pk).update(
        subtotal=Decimal("100.00"), tax=Decimal("20.00"), tax_rate=Decimal("0.2")
    )
    invoice.refresh_from_db()
    return invoice


def credit(client, invoice, amount, reason="order_change", **extra):
    return client.post(
        f"{BASE}/invoices/{invoice.id}/credit-notes", {"amount": amount, "reason": reason, **extra}, format="json"
    )


def paid_through_stripe(api, tenant, make_invoice, emulator, amount="49.00") -> Invoice:
    with_card(tenant, emulator)
    invoice = make_invoice(tenant, amount_due=amount)
    assert api("finance").post(f"{BASE}/invoices/{invoice.id}/pay").status_code == 200
    invoice.refresh_from_db()
    return invoice


def test_a_credit_note_on_an_open_invoice_reduces_what_is_due(api, tenant, make_invoice):
    invoice = taxed_invoice(make_invoice, tenant)
    r = credit(api("finance"), invoice, "30.00", memo="Two days of outage")
    assert r.status_code == 201, r.json()
    note = r.json()
    assert set(note) == {
        "id", "number", "invoice_id", "tenant_id", "currency", "reason", "memo", "subtotal", "tax", "total",
        "applied_amount", "refund_amount", "credit_amount", "refund_status", "stripe_refund_id", "created_at",
    }  # fmt: skip
    assert note["number"].startswith("CN-") and note["number"].endswith("-000001")
    assert (note["subtotal"], note["tax"], note["total"]) == ("25.00", "5.00", "30.00")
    assert (note["applied_amount"], note["refund_amount"], note["credit_amount"]) == ("30.00", "0.00", "0.00")
    assert note["refund_status"] is None and note["memo"] == "Two days of outage"
    body = api("tenant", "acme").get(f"{BASE}/invoices/{invoice.id}").json()
    assert (body["status"], body["amount_credited"], body["amount_remaining"]) == ("open", "30.00", "90.00")


def test_notes_up_to_the_total_tie_out_exactly_and_settle_the_invoice(api, tenant, subscription, make_invoice):
    from billing.models import Subscription

    Subscription.objects.filter(pk=subscription.pk).update(status="past_due")
    invoice = taxed_invoice(make_invoice, tenant, subscription=subscription)
    numbers = []
    for amount in ("33.33", "33.33", "0.01", "53.33"):
        r = credit(api("finance"), invoice, amount)
        assert r.status_code == 201, r.json()
        numbers.append(r.json()["number"])
    assert [n[-6:] for n in numbers] == ["000001", "000002", "000003", "000004"]
    notes = CreditNote.objects.filter(invoice=invoice)
    assert sum(n.subtotal for n in notes) == Decimal("100.00")
    assert sum(n.tax for n in notes) == Decimal("20.00")
    assert sum(n.total for n in notes) == Decimal("120.00")
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_remaining == 0 and invoice.amount_paid == 0
    assert Subscription.objects.get(pk=subscription.pk).status == "active"
    r = credit(api("finance"), invoice, "0.01")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "amount_too_large"


def test_refund_of_a_stripe_payment_and_the_rest_as_credit(api, tenant, make_invoice, stripe_emulator):
    invoice = paid_through_stripe(api, tenant, make_invoice, stripe_emulator)
    r = credit(api("finance"), invoice, "49.00", reason="product_unsatisfactory", refund_amount="20.00")
    assert r.status_code == 201, r.json()
    note = r.json()
    assert (note["applied_amount"], note["refund_amount"], note["credit_amount"]) == ("0.00", "20.00", "29.00")
    assert note["refund_status"] == "succeeded" and note["stripe_refund_id"].startswith("re_")
    (refund,) = stripe_emulator.get("/v1/refunds")["data"]
    assert refund["id"] == note["stripe_refund_id"] and refund["amount"] == 2000
    grant = CreditGrant.objects.get(tenant=tenant)
    assert grant.amount == Decimal("29.00") and note["number"] in grant.reason
    body = api("finance").get(f"{BASE}/invoices/{invoice.id}").json()
    assert (body["amount_credited"], body["amount_refunded"], body["amount_paid"]) == ("49.00", "20.00", "49.00")
    # Reconciliation: credited = applied + refunded + credit; paid − refunded is what we kept.
    invoice.refresh_from_db()
    assert invoice.amount_due == invoice.amount_paid + invoice.amount_credit_applied + invoice.amount_remaining


def test_refund_limits(api, tenant, make_invoice, stripe_emulator):
    invoice = paid_through_stripe(api, tenant, make_invoice, stripe_emulator)
    r = credit(api("finance"), invoice, "10.00", refund_amount="10.01")
    assert r.status_code == 400 and r.json()["errors"][0] == {
        "code": "refund_too_large", "detail": r.json()["errors"][0]["detail"], "attr": "refund_amount"
    }  # fmt: skip
    bank = make_invoice(tenant)
    api("finance").post(f"{BASE}/invoices/{bank.id}/mark-paid", {"reference": "WIRE-1"}, format="json")
    r = credit(api("finance"), bank, "10.00", refund_amount="1.00")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "refund_too_large"
    assert CreditNote.objects.count() == 0 and stripe_emulator.get("/v1/refunds")["data"] == []


def test_a_replayed_request_refunds_once(api, tenant, make_invoice, stripe_emulator):
    invoice = paid_through_stripe(api, tenant, make_invoice, stripe_emulator)
    client = api("finance")
    first = client.post(
        f"{BASE}/invoices/{invoice.id}/credit-notes",
        {"amount": "49.00", "reason": "duplicate", "refund_amount": "49.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cn-1",
    )
    again = client.post(
        f"{BASE}/invoices/{invoice.id}/credit-notes",
        {"amount": "49.00", "reason": "duplicate", "refund_amount": "49.00"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="cn-1",
    )
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    assert CreditNote.objects.count() == 1 and len(stripe_emulator.get("/v1/refunds")["data"]) == 1


def test_a_retried_refund_task_refunds_once_even_after_a_crash(api, tenant, make_invoice, stripe_emulator, monkeypatch):
    from billing.services.credit_notes.create import credit_note_create

    invoice = paid_through_stripe(api, tenant, make_invoice, stripe_emulator)
    note = credit_note_create(invoice=invoice, amount="49.00", reason="duplicate", refund_amount="49.00")
    real = gateway.refund_create

    def answered_then_crashed(params, *, key):
        real(params, key=key)
        raise SystemExit("worker killed after Stripe answered")

    monkeypatch.setattr(gateway, "refund_create", answered_then_crashed)
    with pytest.raises(SystemExit):
        refund_service.credit_note_refund(credit_note_id=note.pk)
    assert CreditNote.objects.get(pk=note.pk).stripe_refund_id == ""
    monkeypatch.setattr(gateway, "refund_create", real)
    refund_service.credit_note_refund(credit_note_id=note.pk)
    refund_service.credit_note_refund(credit_note_id=note.pk)
    assert len(stripe_emulator.get("/v1/refunds")["data"]) == 1
    note.refresh_from_db()
    assert note.refund_status == "succeeded"
    assert Invoice.objects.get(pk=invoice.pk).amount_refunded == Decimal("49.00")


def test_stripe_out_of_reach_leaves_the_refund_failed_and_nothing_lost(
    api, settings, tenant, make_invoice, stripe_emulator
):
    invoice = paid_through_stripe(api, tenant, make_invoice, stripe_emulator)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    r = credit(api("finance"), invoice, "49.00", refund_amount="49.00")
    assert r.status_code == 201
    assert r.json()["refund_status"] == "failed" and r.json()["stripe_refund_id"] is None
    body = api("finance").get(f"{BASE}/invoices/{invoice.id}").json()
    assert body["amount_credited"] == "49.00" and body["amount_refunded"] == "0.00"


def test_refund_webhooks_move_the_status_forward_only(api, anon, tenant, make_invoice, stripe_emulator):
    invoice = paid_through_stripe(api, tenant, make_invoice, stripe_emulator)
    note = credit(api("finance"), invoice, "10.00", refund_amount="10.00").json()
    CreditNote.objects.filter(pk=note["id"]).update(refund_status="pending")
    refund = {"id": note["stripe_refund_id"], "object": "refund", "status": "succeeded", "amount": 1000}
    assert deliver(anon, make_event("refund.updated", refund)).json()["processed"] is True
    assert CreditNote.objects.get(pk=note["id"]).refund_status == "succeeded"
    late = make_event(
        "charge.refunded", {"id": "ch_1", "object": "charge", "refunds": {"data": [{**refund, "status": "failed"}]}}
    )
    assert deliver(anon, late).json()["processed"] is True
    assert CreditNote.objects.get(pk=note["id"]).refund_status == "succeeded"


def test_conflicts_and_void(api, tenant, make_invoice):
    draft = make_invoice(tenant, status="draft")
    r = credit(api("finance"), draft, "1.00")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_not_creditable"
    invoice = make_invoice(tenant)
    assert credit(api("finance"), invoice, "1.00").status_code == 201
    r = api("finance").post(f"{BASE}/invoices/{invoice.id}/void")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_has_credit_notes"
    for body in (
        {"amount": "-1", "reason": "other"},
        {"amount": "1.001", "reason": "other"},
        {"amount": "1", "reason": "x"},
    ):
        r = api("finance").post(f"{BASE}/invoices/{invoice.id}/credit-notes", body, format="json")
        assert r.status_code == 400 and r.json()["type"] == "validation_error", body


def test_role_matrix_lists_get_and_pdf(api, tenant, other_tenant, make_invoice):
    invoice = make_invoice(tenant)
    note = credit(api("finance"), invoice, "5.00").json()
    assert credit(api("tenant", "acme"), invoice, "1.00").status_code == 403
    assert credit(api("service"), invoice, "1.00").status_code == 403
    for url in (f"{BASE}/invoices/{invoice.id}/credit-notes", f"{BASE}/tenants/acme/credit-notes"):
        listed = api("tenant", "acme").get(url)
        assert listed.status_code == 200 and [n["id"] for n in listed.json()["results"]] == [note["id"]]
        assert api("service").get(url).status_code == 403
    assert api("tenant", "globex").get(f"{BASE}/invoices/{invoice.id}/credit-notes").status_code == 404
    assert api("tenant", "globex").get(f"{BASE}/tenants/acme/credit-notes").status_code == 403
    for url in (f"{BASE}/credit-notes/{note['id']}", f"{BASE}/credit-notes/{note['id']}/pdf"):
        assert api("tenant", "globex").get(url).status_code == 404
        assert api("service").get(url).status_code == 403
    assert api("tenant", "acme").get(f"{BASE}/credit-notes/{note['id']}").json() == note

    pdf = api("tenant", "acme").get(f"{BASE}/credit-notes/{note['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'attachment; filename="{note["number"]}.pdf"'
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "CREDIT NOTE" in text and note["number"] in text and invoice.number in text and "5.00" in text
    asked = api("tenant", "acme").get(f"{BASE}/credit-notes/{note['id']}/pdf", HTTP_ACCEPT="application/pdf")
    assert asked.status_code == 200 and asked.content == pdf.content  # issue 12: not 406


@pytest.mark.django_db(transaction=True)
def test_a_credit_note_racing_a_payment_never_over_credits(tenant, make_invoice, stripe_emulator):
    with_card(tenant, stripe_emulator)
    invoice = make_invoice(tenant, amount_due="49.00")
    barrier, answers = threading.Barrier(2), {}

    def run(name, call):
        try:
            barrier.wait()
            answers[name] = call().status_code
        finally:
            connection.close()

    finance = make_client("finance")
    threads = [
        threading.Thread(target=run, args=("pay", lambda: finance.post(f"{BASE}/invoices/{invoice.id}/pay"))),
        threading.Thread(target=run, args=("cn", lambda: credit(make_client("finance"), invoice, "49.00"))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    invoice.refresh_from_db()
    credited = sum(n.total for n in CreditNote.objects.filter(invoice=invoice))
    assert credited <= invoice.total and invoice.amount_remaining >= 0
    assert invoice.amount_paid + invoice.amount_credit_applied == invoice.amount_due
    assert invoice.status == "paid"
    assert answers["pay"] in (200, 409) and answers["cn"] in (201, 409)
