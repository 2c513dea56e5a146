"""At least once, never lost: a lost enqueue or a sender killed mid-delivery is made good by the sweeper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Event, WebhookAttempt, WebhookDelivery
from notifications.services import deliveries
from notifications.tasks import notifications_sweep
from tests.notifications.conftest import endpoint_for
from tests.notifications.helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    """Point Celery at a broker that is not there (not eager), as when Redis is stopped."""
    from billing_project.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager, app.conf.task_publish_retry)
    app.conf.broker_url, app.conf.task_always_eager, app.conf.task_publish_retry = "redis://127.0.0.1:1/0", False, False
    app.amqp._producer_pool = None
    yield app
    app.conf.broker_url, app.conf.task_always_eager, app.conf.task_publish_retry = saved
    app.amqp._producer_pool = None


def test_events_committed_while_the_broker_is_down_are_delivered_by_the_sweeper(
    receiver_factory, django_capture_on_commit_callbacks, broker_down
):
    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    with django_capture_on_commit_callbacks(execute=True):
        first = record("acme")  # the change commits; queueing its dispatch fails and is only logged
        second = record("acme")
    assert Event.objects.filter(processed_at__isnull=True).count() == 2
    assert receiver.received == []

    broker_down.conf.task_always_eager = True  # the broker is back
    notifications_sweep.apply()
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted([str(first.id), str(second.id)])
    assert all(r.verified for r in receiver.received)
    assert Event.objects.filter(processed_at__isnull=True).count() == 0
    notifications_sweep.apply()
    assert len(receiver.received) == 2, "a delivered event is not sent again"


def test_a_sender_killed_after_posting_is_retried_with_the_same_webhook_id(
    receiver_factory, django_capture_on_commit_callbacks, clock, monkeypatch
):
    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    start = clock.set(timezone.now())
    real_record = deliveries._record

    def killed(*args, **kwargs):
        raise SystemExit("worker killed between the POST and recording its answer")

    monkeypatch.setattr(deliveries, "_record", killed)
    with pytest.raises(SystemExit), django_capture_on_commit_callbacks(execute=True):
        event = record("acme")
    monkeypatch.setattr(deliveries, "_record", real_record)
    assert len(receiver.received) == 1
    clock.set(start + timedelta(seconds=30))
    notifications_sweep.apply()
    assert len(receiver.received) == 1, "the claim of the killed sender still holds"
    clock.set(start + timedelta(seconds=deliveries.CLAIM_SECONDS + 1))
    notifications_sweep.apply()
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(event.id)] * 2
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    first, second = WebhookAttempt.objects.order_by("attempt")
    assert first.status == "failed" and first.error.startswith("interrupted")
    assert second.status == "succeeded"


def test_a_dispatcher_run_twice_creates_each_delivery_once(receiver_factory):
    from notifications.services.dispatch import events_dispatch

    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    record("acme")  # no commit callbacks here: nothing was dispatched yet
    Event.objects.update(processed_at=None)
    events_dispatch()
    Event.objects.update(processed_at=None)  # as if the first run died before marking them processed
    events_dispatch()
    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.received) == 1


def test_events_past_the_retention_are_purged_with_their_deliveries(receiver_factory, clock, settings):
    from notifications.services.events import events_purge
    from notifications.tasks import events_dispatch

    settings.BILLING_EVENT_RETENTION_DAYS = 30
    endpoint_for(receiver_factory(), tenant_id="acme")
    start = clock.set(timezone.now())
    old = record("acme")
    clock.set(start + timedelta(days=20))
    kept = record("acme")
    events_dispatch.apply()
    assert WebhookDelivery.objects.count() == 2
    clock.set(start + timedelta(days=30, seconds=1))
    assert events_purge() == 1
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]
    assert not WebhookDelivery.objects.filter(event_id=old.pk).exists() and WebhookDelivery.objects.count() == 1
