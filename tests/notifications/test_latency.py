"""Delivery work never runs in the request: a receiver that hangs does not slow the API call."""

from __future__ import annotations

import time

import pytest

from notifications.models import WebhookDelivery
from tests.notifications.conftest import endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/api/v1/billing"
HANG = 6.0


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_hanging_receiver_changes_nothing_in_the_latency_of_the_request(receiver_factory, settings, catalog, api):
    settings.NOTIFICATIONS_EAGER_IN_THREAD = True  # as without a broker: after commit, in the background
    settings.WEBHOOK_TIMEOUT_SECONDS = 10
    receiver = receiver_factory(default="hang", hang_seconds=HANG)
    endpoint_for(receiver, tenant_id="acme", event_types=["subscription.*"])
    finance = api("finance")

    def timed_create(tenant_id: str) -> float:
        started = time.monotonic()
        r = finance.post(f"{BASE}/tenants/{tenant_id}/subscriptions", {"plan_id": "starter"}, format="json")
        assert r.status_code == 201
        return time.monotonic() - started

    timed_create("warm-up")
    baseline = timed_create("globex")  # no endpoint listens to globex
    elapsed = timed_create("acme")
    assert elapsed < baseline + 1.0, f"{elapsed:.2f} s with a hanging receiver vs {baseline:.2f} s without"
    assert wait_until(lambda: len(receiver.received) == 1, 5), "the event is delivered in the background"
    assert WebhookDelivery.objects.get().status == "pending", "the receiver is still hanging"
    assert wait_until(lambda: WebhookDelivery.objects.get().status == "succeeded", HANG + 10)
    assert receiver.received[0].json["type"] == "subscription.created" and receiver.received[0].verified
