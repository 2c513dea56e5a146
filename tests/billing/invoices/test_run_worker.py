"""The invoice run with a real Celery worker over Redis: killed halfway, re-run, nothing twice or lost."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest
from django.db import connections

from billing.models import Invoice, Subscription
from billing.pricing import add_months
from billing.selectors.invoices import subscriptions_due_for_invoicing
from billing.services.invoices import invoices_run
from tests.billing.invoices.conftest import make_sub, utc

pytestmark = pytest.mark.django_db(transaction=True)

# The configured broker when there is one (CI), so the producer pool and the worker agree on it;
# a queue of this test's own keeps it apart from anything else on that Redis.
BROKER = (
    os.environ.get("CELERY_BROKER_URL", "").startswith("redis://")
    and os.environ["CELERY_BROKER_URL"]
    or ("redis://127.0.0.1:6379/15")
)
SUBSCRIPTIONS = 24


def reset_routing(app) -> None:
    """Drop Celery's cached queues, router and producer pool so they follow the current conf."""
    for name in ("queues", "default_queue", "router"):
        app.amqp.__dict__.pop(name, None)
    app.amqp._producer_pool = None  # may still point at a broker from an earlier configuration


@pytest.fixture
def redis_app():
    """Return the Celery app switched to Redis db 15, not eager; skipped when Redis is unreachable."""
    import redis
    from celery.signals import task_postrun

    from billing_project.celery import app

    client = redis.Redis.from_url(BROKER, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis is unreachable at {BROKER}: this test needs a real broker for its real worker")
    # Other test runs may share this Redis db: a queue of our own keeps their workers off our tasks.
    queue = f"test-invoices-{uuid.uuid4().hex[:12]}"
    saved = (app.conf.broker_url, app.conf.task_always_eager, app.conf.result_backend, app.conf.task_default_queue)
    app.close()
    app.conf.broker_url, app.conf.task_always_eager, app.conf.result_backend = BROKER, False, None
    app.conf.task_default_queue = queue
    reset_routing(app)
    from celery import _state

    previous_current = _state.get_current_app()
    app.set_current()  # shared tasks resolve through the current app

    def close_thread_connections(**kwargs):
        connections.close_all()  # worker threads must not keep the test database open

    task_postrun.connect(close_thread_connections, weak=False)
    yield app, client, queue
    task_postrun.disconnect(close_thread_connections)
    previous_current.set_current()
    app.close()
    app.conf.broker_url, app.conf.task_always_eager, app.conf.result_backend, app.conf.task_default_queue = saved
    reset_routing(app)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def wait_until(predicate, timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_run_killed_halfway_then_rerun_invoices_each_period_exactly_once(redis_app, catalog, monkeypatch):
    from celery.contrib.testing.worker import start_worker

    import billing.services.subscriptions as subs_service

    app, client, queue = redis_app
    at = utc(2026, 3, 10)
    for i in range(SUBSCRIPTIONS):
        make_sub(f"w{i:02d}", "starter", started_at=utc(2026, 1, 1 + i % 20), now=at)
    expected_periods = 2 * SUBSCRIPTIONS - sum(1 for i in range(SUBSCRIPTIONS) if 1 + i % 20 > 10)

    real_roll = subs_service.subscription_roll_period
    done, killed, lock = [0], threading.Event(), threading.Lock()

    def dying_roll(*, subscription_id, at):
        # After 10 periods the worker "dies": the period in flight is rolled back with everything
        # it did (invoice, number, credits), and so is every later one it starts.
        with lock:
            if done[0] >= 10:
                killed.set()
                raise RuntimeError("worker killed")
            done[0] += 1
        return real_roll(subscription_id=subscription_id, at=at)

    monkeypatch.setattr(subs_service, "subscription_roll_period", dying_roll)
    first = invoices_run(at=at, sync=False, batch_size=3)
    assert first.tasks == SUBSCRIPTIONS // 3 and client.llen(queue) == first.tasks
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
        assert killed.wait(60), "the worker never reached the crash point"
    committed = Invoice.objects.count()
    assert 10 <= committed < expected_periods
    left_in_queue = client.llen(queue)

    # Re-run while the first run's leftover messages are still queued: both are processed together.
    monkeypatch.setattr(subs_service, "subscription_roll_period", real_roll)
    second = invoices_run(at=at, sync=False, batch_size=3)
    assert second.subscriptions >= 1
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
        assert wait_until(lambda: not subscriptions_due_for_invoicing(at=at) and client.llen(queue) == 0), (
            f"not finished: {len(subscriptions_due_for_invoicing(at=at))} due, {client.llen(queue)} queued "
            f"({left_in_queue} left over from the first run)"
        )
        time.sleep(0.5)  # let the last task commit and ack

    for sub in Subscription.objects.all():
        starts = sorted(Invoice.objects.filter(subscription=sub).values_list("period_start", flat=True))
        ended = [add_months(sub.started_at, k) for k in range(2) if add_months(sub.started_at, k + 1) <= at]
        assert starts == ended, f"{sub.tenant_id}: invoiced {starts}, expected {ended}"
        assert sub.invoiced_through == add_months(sub.started_at, len(ended))
    assert Invoice.objects.count() == expected_periods
    assert Invoice.objects.filter(status="open").count() == expected_periods
    year = Invoice.objects.exclude(number=None).first().finalized_at.year
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [
        f"INV-{year}-{n:06d}" for n in range(1, expected_periods + 1)
    ]
