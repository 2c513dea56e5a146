"""E-mail to the tenant's billing_email through a real SMTP server: parts, PDF, retries, the log."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from pypdf import PdfReader

from notifications.models import EmailMessage
from notifications.tasks import notifications_sweep
from tests.billing.invoices.conftest import make_sub
from tests.conftest import utc
from tests.notifications.smtp import SmtpServer, free_port

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


@pytest.fixture
def smtp(settings):
    server = SmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 2
    yield server
    server.stop()


@pytest.fixture
def finance(as_):
    """A finance client whose token is issued in real time (the tests freeze the clock in 2026-03)."""
    return as_("finance")


@pytest.fixture
def billed(catalog, clock):
    """acme pays by hand (send_invoice) at ap@acme.test, with an ended period to invoice."""
    from billing.models import Tenant

    clock.set(utc(2026, 3, 10))
    make_sub("acme", "pro", started_at=utc(2026, 2, 1))
    Tenant.objects.filter(pk="acme").update(billing_email="ap@acme.test", collection_method="send_invoice")


def finalize_invoice(finance) -> dict:
    draft = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    return finance.post(f"{BASE}/invoices/{draft['id']}/finalize").json()


def parts(message) -> dict[str, object]:
    found = {}
    for part in message.walk():
        kind = part.get_content_type()
        if part.get_content_disposition() == "attachment":
            found["attachment"] = part
        elif kind in ("text/plain", "text/html"):
            found[kind] = part.get_content()
    return found


def test_an_invoice_to_pay_by_hand_is_mailed_with_its_pdf(billed, smtp, finance, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = finalize_invoice(finance)
    assert invoice["status"] == "open"
    [message] = smtp.messages
    assert smtp.handler.recipients == [["ap@acme.test"]]
    assert message["To"] == "ap@acme.test"
    assert invoice["number"] in message["Subject"] and invoice["amount_due"] in message["Subject"]
    found = parts(message)
    assert invoice["number"] in found["text/plain"] and invoice["amount_due"] in found["text/plain"]
    assert "<strong>" + invoice["number"] + "</strong>" in found["text/html"]
    attachment = found["attachment"]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{invoice['number']}.pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(attachment.get_content())).pages)
    assert invoice["number"] in text and invoice["total"] in text
    logged = EmailMessage.objects.get()
    assert (logged.kind, logged.status, logged.to, logged.attempts) == ("invoice", "sent", "ap@acme.test", 1)
    assert logged.sent_at is not None


def test_no_invoice_mail_when_the_card_is_charged_automatically(
    billed, smtp, finance, django_capture_on_commit_callbacks
):
    from billing.models import Tenant
    from notifications.services.dispatch import events_dispatch

    Tenant.objects.filter(pk="acme").update(
        collection_method="charge_automatically", default_payment_method_id="pm_card_visa"
    )
    finalize_invoice(finance)  # its after-commit work (the automatic charge) is not run here
    assert events_dispatch().events == 2  # invoice.created and invoice.finalized
    assert smtp.messages == [] and EmailMessage.objects.count() == 0


def test_no_mail_without_a_billing_email(billed, smtp, finance, django_capture_on_commit_callbacks):
    from billing.models import Tenant

    Tenant.objects.filter(pk="acme").update(billing_email="")
    with django_capture_on_commit_callbacks(execute=True):
        finalize_invoice(finance)
    assert smtp.messages == []


def test_a_receipt_when_the_invoice_is_paid(billed, smtp, finance, django_capture_on_commit_callbacks, clock):
    from django.db import transaction

    from billing.models import Invoice
    from billing.services.transitions import invoice_transition

    with django_capture_on_commit_callbacks(execute=True):
        invoice = finalize_invoice(finance)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        row = Invoice.objects.get(pk=invoice["id"])
        invoice_transition(invoice=row, to="paid", amount_paid=row.amount_due, paid_at=clock.now())
    receipt = [m for m in smtp.messages if "Receipt" in m["Subject"]]
    assert len(receipt) == 1
    assert invoice["amount_due"] in parts(receipt[0])["text/plain"]
    assert EmailMessage.objects.filter(kind="receipt", status="sent").count() == 1


def test_smtp_down_never_fails_or_slows_the_action_and_the_mail_goes_later(
    billed, settings, finance, django_capture_on_commit_callbacks, clock
):
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        invoice = finalize_invoice(finance)
    assert invoice["status"] == "open"
    assert time.monotonic() - started < 5
    logged = EmailMessage.objects.get()
    assert logged.status == "queued" and logged.attempts == 1 and "Connection" in logged.error
    assert logged.next_attempt_at == clock.now() + timedelta(seconds=30)

    server = SmtpServer(port=port).start()
    try:
        clock.set(clock.now() + timedelta(seconds=31))
        notifications_sweep.apply()
        logged.refresh_from_db()
        assert (logged.status, logged.attempts, logged.error) == ("sent", 2, "")
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_a_mail_that_keeps_failing_ends_failed(billed, settings, finance, django_capture_on_commit_callbacks, clock):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 1
    settings.EMAIL_RETRY_SCHEDULE = [10, 20]
    with django_capture_on_commit_callbacks(execute=True):
        finalize_invoice(finance)
    for _ in range(3):
        clock.set(clock.now() + timedelta(seconds=30))
        notifications_sweep.apply()
    logged = EmailMessage.objects.get()
    assert (logged.status, logged.attempts) == ("failed", 3)
    assert logged.failed_at is not None and logged.next_attempt_at is None


def test_the_alert_mail(catalog, clock, smtp, finance, django_capture_on_commit_callbacks):
    from billing.models import Tenant
    from realtime.services.alerts import alerts_evaluate

    clock.set(utc(2026, 3, 10))
    make_sub("acme", "pro", started_at=utc(2026, 3, 1))
    Tenant.objects.filter(pk="acme").update(billing_email="ops@acme.test")
    finance.post(
        f"{BASE}/realtime-cost/tenants/acme/alerts", {"type": "cost_threshold", "threshold": "1"}, format="json"
    )
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(tenant_id="acme", now=utc(2026, 3, 10))
    [message] = smtp.messages
    assert message["Subject"] == "Alert triggered: cost threshold"
    assert "cost_threshold" in parts(message)["text/plain"]
