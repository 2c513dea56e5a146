"""With a real Celery worker over Redis: queued messages lost (Redis restarted empty) are made good by the sweeper."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from notifications.models import Event, WebhookDelivery
from tests.billing.invoices.test_run_worker import redis_app, wait_until  # noqa: F401 (the fixture and helper)
from tests.notifications.conftest import endpoint_for
from tests.notifications.helpers import make_alert

pytestmark = pytest.mark.django_db(transaction=True)


def test_lost_queue_messages_are_delivered_once_the_sweeper_runs(redis_app, receiver_factory):  # noqa: F811
    from celery.contrib.testing.worker import start_worker

    from notifications.services.events import event_record
    from notifications.tasks import notifications_sweep

    app, client, queue = redis_app
    receiver = receiver_factory()
    endpoint_for(receiver, tenant_id="acme")
    ids = []
    for _ in range(3):
        with transaction.atomic():
            ids.append(str(event_record(type="alert.triggered", tenant_id="acme", obj=make_alert("acme")).id))
    assert client.llen(queue) == 3, "each commit queued its dispatch"
    client.delete(queue)  # Redis restarted without its data, or the messages were otherwise lost
    assert Event.objects.filter(processed_at__isnull=True).count() == 3

    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
        time.sleep(1)
        assert receiver.received == [], "nothing was left in the queue to deliver"
        notifications_sweep.delay()  # what beat runs every 30 s
        assert wait_until(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 3), (
            f"delivered {WebhookDelivery.objects.filter(status='succeeded').count()} of 3"
        )
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(ids)
    assert all(r.verified for r in receiver.received)
