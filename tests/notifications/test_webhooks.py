"""Webhook deliveries to a real receiver: signatures, retries on the schedule, failure, isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.services.dispatch import work_sweep
from tests.notifications.conftest import endpoint_for
from tests.notifications.helpers import record

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


def test_an_event_is_posted_once_signed_and_equal_to_the_api_object(
    receiver_factory, django_capture_on_commit_callbacks, finance
):
    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    with django_capture_on_commit_callbacks(execute=True):
        event = record("acme")
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.verified, "the receiver's own HMAC must accept the Standard Webhooks signature"
    assert got.headers["webhook-id"] == str(event.id)
    assert abs(int(got.headers["webhook-timestamp"]) - timezone.now().timestamp()) < 60
    assert got.json == finance.get(f"{BASE}/events/{event.id}").json()
    assert got.json["data"]["object"]["tenant_id"] == "acme"
    assert WebhookDelivery.objects.get().status == "succeeded"


def test_500_twice_then_200_is_retried_on_the_schedule_and_ends_succeeded(
    receiver_factory, django_capture_on_commit_callbacks, clock, finance
):
    receiver = receiver_factory(answers=[500, 500, 200])
    endpoint = endpoint_for(receiver, tenant_id="acme")
    start = clock.set(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        event = record("acme")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == start + timedelta(seconds=5)

    clock.set(start + timedelta(seconds=4))
    work_sweep()
    assert len(receiver.received) == 1, "not due yet: nothing is sent early"
    clock.set(start + timedelta(seconds=6))
    work_sweep()
    assert len(receiver.received) == 2
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=6 + 300)
    clock.set(start + timedelta(seconds=6 + 301))
    work_sweep()
    work_sweep()  # a delivery that got a 2xx is never sent again
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(event.id)] * 3
    assert all(r.verified for r in receiver.received)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)

    rows = finance.get(f"{BASE}/webhook-endpoints/{endpoint.id}/deliveries").json()
    assert rows["count"] == 3
    assert [(r["attempt"], r["status"], r["response_status"]) for r in rows["results"]] == [
        (3, "succeeded", 200),
        (2, "failed", 500),
        (1, "failed", 500),
    ]
    assert rows["results"][2]["next_attempt_at"] is not None and rows["results"][0]["next_attempt_at"] is None
    assert rows["results"][0]["event_id"] == str(event.id)
    assert rows["results"][0]["event_type"] == "alert.triggered"


def test_a_receiver_that_never_answers_ends_failed_without_blocking_others(
    receiver_factory, django_capture_on_commit_callbacks, clock, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 60]
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    hanging = receiver_factory(default="hang", hang_seconds=2)
    healthy = receiver_factory()
    endpoint_for(hanging, tenant_id="acme")
    endpoint_for(healthy, tenant_id="acme")
    start = clock.set(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    assert len(healthy.received) == 1
    for seconds in (10, 100):
        clock.set(start + timedelta(seconds=seconds))
        work_sweep()
    failed = WebhookDelivery.objects.get(endpoint__url=hanging.url)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 3, None)
    assert len(hanging.received) == 3
    errors = list(WebhookAttempt.objects.filter(delivery=failed).values_list("error", flat=True))
    assert all("Timeout" in e for e in errors), errors
    assert WebhookDelivery.objects.get(endpoint__url=healthy.url).status == "succeeded"
    assert len(healthy.received) == 1


def test_a_tenants_endpoint_never_receives_another_tenants_events(receiver_factory, django_capture_on_commit_callbacks):
    acme, globex, everyone = receiver_factory(), receiver_factory(), receiver_factory()
    endpoint_for(acme, tenant_id="acme")
    endpoint_for(globex, tenant_id="globex")
    endpoint_for(everyone, tenant_id=None)
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
        record("globex")
        record("acme")
    assert {r.json["tenant_id"] for r in acme.received} == {"acme"} and len(acme.received) == 2
    assert {r.json["tenant_id"] for r in globex.received} == {"globex"} and len(globex.received) == 1
    assert len(everyone.received) == 3


def test_event_types_filter_exact_and_prefix(receiver_factory, django_capture_on_commit_callbacks):
    exact, prefix, other = receiver_factory(), receiver_factory(), receiver_factory()
    endpoint_for(exact, tenant_id="acme", event_types=["alert.triggered"])
    endpoint_for(prefix, tenant_id="acme", event_types=["alert.*"])
    endpoint_for(other, tenant_id="acme", event_types=["invoice.*", "subscription.created"])
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    assert (len(exact.received), len(prefix.received), len(other.received)) == (1, 1, 0)


def test_the_url_is_checked_again_at_delivery(receiver_factory, django_capture_on_commit_callbacks, settings):
    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # e.g. DNS now points the host at a private address
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    assert receiver.received == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status == "failed" and attempt.error.startswith("webhook_url_not_allowed")


def test_an_endpoint_failing_every_delivery_for_five_days_is_disabled(
    receiver_factory, django_capture_on_commit_callbacks, clock
):
    receiver = receiver_factory(default=503)
    endpoint = endpoint_for(receiver, tenant_id="acme")
    start = clock.set(timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since == start
    at = start
    for delay in (5, 300, 1800, 7200, 18000, 36000, 36000):
        at += timedelta(seconds=delay + 1)
        clock.set(at)
        with django_capture_on_commit_callbacks(execute=True):
            record("acme")  # every new event fails too
        work_sweep()
    clock.set(start + timedelta(days=5, seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_at is not None
    assert "5 days" in endpoint.disabled_reason
    sent = len(receiver.received)
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    assert len(receiver.received) == sent, "a disabled endpoint gets nothing more"
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled is False
