"""Event webhooks on /metrics: deliveries by outcome, and the backlog the alert rule watches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.services.dispatch import work_sweep
from tests.notifications.conftest import endpoint_for
from tests.notifications.helpers import record

pytestmark = pytest.mark.django_db


def test_a_failing_receiver_moves_retrying_then_failed_and_ages_the_backlog(
    receiver_factory, django_capture_on_commit_callbacks, clock, settings, scrape
):
    settings.WEBHOOK_RETRY_SCHEDULE = [5]
    receiver = receiver_factory(answers=[500, 500])
    endpoint_for(receiver, tenant_id="acme")
    start = clock.set(timezone.now())
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    first = scrape()
    assert first.since(before, "billing_webhook_deliveries_total", kind="event", outcome="retrying") == 1
    assert first.since(before, "billing_webhook_deliveries_total", kind="event", outcome="failed") == 0
    assert first.value("billing_webhook_backlog") == 1

    clock.set(start + timedelta(seconds=3700))
    late = scrape()
    assert late.value("billing_webhook_backlog_oldest_age_seconds") >= 3600  # what BillingWebhookBacklogOld fires on

    work_sweep()  # the one retry: 500 again, the schedule is exhausted
    after = scrape()
    assert len(receiver.received) == 2
    assert after.since(first, "billing_webhook_deliveries_total", kind="event", outcome="failed") == 1
    assert after.since(first, "billing_webhook_deliveries_total", kind="event", outcome="succeeded") == 0
    assert after.value("billing_webhook_backlog") == 0
    assert after.value("billing_webhook_backlog_oldest_age_seconds") == 0


def test_a_delivered_event_is_counted_succeeded(receiver_factory, django_capture_on_commit_callbacks, scrape):
    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    after = scrape()
    assert len(receiver.received) == 1
    assert after.since(before, "billing_webhook_deliveries_total", kind="event", outcome="succeeded") == 1
    assert after.value("billing_webhook_backlog") == 0
