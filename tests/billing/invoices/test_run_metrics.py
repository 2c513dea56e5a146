"""The invoice run as operators see it on /metrics: invoices generated and finalized, failures, duration."""

from __future__ import annotations

import pytest

from billing.services.invoices import invoices_run, run
from tests.billing.invoices.test_run import fleet  # noqa: F401  (the fixture: five subscriptions on March 10)
from tests.conftest import utc

pytestmark = pytest.mark.django_db


def test_a_run_moves_generated_finalized_and_its_duration(fleet, scrape, django_capture_on_commit_callbacks):  # noqa: F811
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        summary = invoices_run(at=utc(2026, 3, 10), sync=True)
    after = scrape()
    assert (summary.generated, summary.finalized, summary.failed) == (6, 6, 0)
    assert after.since(before, "billing_invoices_generated_total") == 6
    assert after.since(before, "billing_invoices_finalized_total") == 6
    assert after.since(before, "billing_invoice_run_failures_total") == 0
    assert after.since(before, "billing_invoice_run_duration_seconds_count", part="run") == 1
    assert after.since(before, "billing_invoice_run_duration_seconds_count", part="batch") == 1  # 4 subscriptions
    assert after.since(before, "billing_invoice_run_duration_seconds_sum", part="run") > 0


def test_a_subscription_the_run_fails_on_is_counted(fleet, scrape, monkeypatch, django_capture_on_commit_callbacks):  # noqa: F811
    real = run.invoice_run_subscription
    broken = str(fleet["mid"].pk)

    def failing(*, subscription_id, **kwargs):
        if str(subscription_id) == broken:
            raise RuntimeError("pricing blew up")
        return real(subscription_id=subscription_id, **kwargs)

    monkeypatch.setattr(run, "invoice_run_subscription", failing)
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        summary = invoices_run(at=utc(2026, 3, 10), sync=True)
    after = scrape()
    assert summary.failed == 1
    assert after.since(before, "billing_invoice_run_failures_total") == 1
    assert after.since(before, "billing_invoices_generated_total") == 5
    assert after.since(before, "billing_invoices_finalized_total") == 5


def test_a_rolled_back_draft_is_not_counted(fleet, scrape):  # noqa: F811
    before = scrape()
    invoices_run(at=utc(2026, 3, 10), sync=True)  # inside the test's transaction: nothing commits
    assert scrape().since(before, "billing_invoices_generated_total") == 0


def test_the_dunning_queue_is_read_from_the_invoices_at_scrape(fleet, scrape):  # noqa: F811
    from billing.models import Invoice

    invoices_run(at=utc(2026, 3, 10), sync=True)
    assert scrape().value("billing_dunning_queue_length") == 0
    Invoice.objects.filter(tenant_id="monthly", status="open").update(next_payment_attempt=utc(2026, 3, 13))
    Invoice.objects.filter(tenant_id="mid").update(status="paid", next_payment_attempt=utc(2026, 3, 13))  # not open
    assert scrape().value("billing_dunning_queue_length") == 2
    assert scrape().value("billing_scrape_probe_up", probe="dunning_queue") == 1
