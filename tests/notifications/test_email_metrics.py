"""E-mails on /metrics: sent and failed, counted when their fate is known."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifications.tasks import notifications_sweep
from tests.notifications.smtp import free_port
from tests.notifications.test_email import billed, finalize_invoice, finance, smtp  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_a_sent_invoice_mail_is_counted(billed, smtp, finance, django_capture_on_commit_callbacks, scrape):  # noqa: F811
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        finalize_invoice(finance)
    after = scrape()
    assert len(smtp.messages) == 1
    assert after.since(before, "billing_emails_total", outcome="sent") == 1
    assert after.since(before, "billing_emails_total", outcome="failed") == 0


def test_a_mail_that_keeps_failing_is_counted_failed_once(  # noqa: F811
    billed, settings, finance, django_capture_on_commit_callbacks, clock, scrape
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 1
    settings.EMAIL_RETRY_SCHEDULE = [10, 20]
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        finalize_invoice(finance)
    for _ in range(3):
        clock.set(clock.now() + timedelta(seconds=30))
        notifications_sweep.apply()
    after = scrape()
    assert after.since(before, "billing_emails_total", outcome="failed") == 1
    assert after.since(before, "billing_emails_total", outcome="sent") == 0
