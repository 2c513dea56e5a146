"""Alerts on /metrics: alerts triggered by type, and alert webhook deliveries by outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Tenant
from tests.conftest import make_client
from tests.realtime.helpers import BASE, subscribe
from tests.realtime.test_alerts import Receiver

ALERTS = f"{BASE}/realtime-cost/tenants/acme/alerts"


@pytest.mark.django_db(transaction=True)
def test_a_trigger_and_a_delivery_that_succeeds_after_retries(catalog, scrape):
    receiver = Receiver(statuses=[500])
    try:
        Tenant.objects.create(id="acme")
        subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
        before = scrape()
        r = make_client("finance").post(
            ALERTS, {"type": "cost_threshold", "threshold": "0", "webhook_url": receiver.url}, format="json"
        )
        assert r.status_code == 201 and len(receiver.requests) == 2
        after = scrape()
    finally:
        receiver.close()
    assert after.since(before, "billing_alerts_triggered_total", type="cost_threshold") == 1
    assert after.since(before, "billing_webhook_deliveries_total", kind="alert", outcome="retrying") == 1
    assert after.since(before, "billing_webhook_deliveries_total", kind="alert", outcome="succeeded") == 1
    assert after.since(before, "billing_webhook_deliveries_total", kind="alert", outcome="failed") == 0


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_never_gets_through_is_failed_once(catalog, scrape):
    Tenant.objects.create(id="acme")
    subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
    before = scrape()
    r = make_client("finance").post(
        ALERTS, {"type": "cost_threshold", "threshold": "0", "webhook_url": "http://127.0.0.1:9/nothing"}, format="json"
    )
    assert r.status_code == 201
    after = scrape()
    assert after.since(before, "billing_webhook_deliveries_total", kind="alert", outcome="retrying") == 2
    assert after.since(before, "billing_webhook_deliveries_total", kind="alert", outcome="failed") == 1
    assert after.since(before, "billing_webhook_deliveries_total", kind="alert", outcome="succeeded") == 0
