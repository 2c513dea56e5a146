"""/metrics: counters move by what happened, scrape-time gauges, and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing/tenants"


def _events(n: int, start: int = 0, **extra) -> list[dict]:
    ts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return [
        {"event_id": f"m-{i}", "metric": "api_calls", "quantity": 1, "timestamp": ts, **extra}
        for i in range(start, start + n)
    ]


def test_batch_ingest_moves_accepted_duplicate_and_size(catalog, service, scrape):
    before = scrape()
    first = service.post(f"{BASE}/acme/usage/batch", {"events": _events(7)}, format="json")
    second = service.post(f"{BASE}/acme/usage/batch", {"events": _events(5, start=4)}, format="json")
    assert first.json() == {"accepted": 7, "duplicates": 0}
    assert second.json() == {"accepted": 2, "duplicates": 3}
    after = scrape()

    def moved(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("billing_usage_events_total", outcome="accepted") == 9
    assert moved("billing_usage_events_total", outcome="duplicate") == 3
    assert moved("billing_usage_batch_size_count") == 2
    assert moved("billing_usage_batch_size_sum") == 12
    assert moved("billing_usage_ingest_duration_seconds_count", kind="batch") == 2
    assert moved("billing_usage_ingest_duration_seconds_count", kind="single") == 0


def test_single_ingest_is_timed_as_single(catalog, service, scrape):
    before = scrape()
    r = service.post(f"{BASE}/acme/usage", _events(1)[0], format="json")
    assert r.status_code == 201
    after = scrape()
    assert (
        after.value("billing_usage_ingest_duration_seconds_count", kind="single")
        - before.value("billing_usage_ingest_duration_seconds_count", kind="single")
        == 1
    )
    assert (
        after.value("billing_usage_events_total", outcome="accepted")
        - before.value("billing_usage_events_total", outcome="accepted")
        == 1
    )
    assert after.since(before, "billing_usage_batch_size_count") == 0  # sizes are of batch calls only


def test_refused_batch_counts_every_event_by_reason(catalog, service, scrape):
    events = _events(5)
    events[1]["metric"] = "nope"
    events[3]["quantity"] = -1
    events[4]["metric"] = "nope-too"
    before = scrape()
    r = service.post(f"{BASE}/acme/usage/batch", {"events": events}, format="json")
    assert r.status_code == 400
    after = scrape()

    def refused(reason):
        return after.value("billing_usage_events_refused_total", reason=reason) - before.value(
            "billing_usage_events_refused_total", reason=reason
        )

    assert refused("unknown_metric") == 2
    assert refused("min_value") == 1
    assert refused("batch_refused") == 2  # the valid events refused with the batch
    assert after.value("billing_usage_events_total", outcome="accepted") == before.value(
        "billing_usage_events_total", outcome="accepted"
    )


def test_metrics_off_records_nothing(catalog, service, scrape):
    before = scrape()
    with override_settings(METRICS_ENABLED=False):
        r = service.post(f"{BASE}/acme/usage/batch", {"events": _events(3)}, format="json")
    assert r.json()["accepted"] == 3
    after = scrape()
    assert after.value("billing_usage_events_total", outcome="accepted") == before.value(
        "billing_usage_events_total", outcome="accepted"
    )


def test_request_metrics_come_from_django_prometheus(scrape):
    before = scrape()
    Client().get("/health")
    after = scrape()
    name = "django_http_requests_total_by_view_transport_method_total"
    assert after.value(name, view="health", method="GET") - before.value(name, view="health", method="GET") == 1


def test_celery_queue_length_is_read_from_the_broker_at_scrape(scrape, settings):
    import redis

    url = "redis://127.0.0.1:6379/5"
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = url, False
    settings.CELERY_TASK_DEFAULT_QUEUE = "metrics-test-queue"
    client = redis.Redis.from_url(url)
    client.delete("metrics-test-queue")
    client.rpush("metrics-test-queue", "a", "b", "c")
    try:
        got = scrape()
    finally:
        client.delete("metrics-test-queue")
    assert got.value("billing_celery_queue_length", queue="metrics-test-queue") == 3
    assert got.value("billing_scrape_probe_up", probe="celery_queues") == 1


def test_a_down_broker_is_a_probe_down_not_a_failed_scrape(scrape, settings):
    settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = "redis://127.0.0.1:1/0", False
    got = scrape()
    assert got.value("billing_scrape_probe_up", probe="celery_queues") == 0
    assert got.value("billing_scrape_probe_up", probe="webhook_backlog") == 1


# --- who may read /metrics -------------------------------------------------------------------------


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.0.0.53", "::1"])
def test_loopback_clients_may_scrape_without_a_token(addr):
    r = Client(REMOTE_ADDR=addr).get("/metrics")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/plain")
    assert b"billing_usage_events_total" in r.content


@pytest.mark.parametrize("addr", ["10.1.2.3", "192.0.2.7", "2001:db8::1"])
def test_other_clients_are_refused_in_the_error_shape(addr):
    r = Client(REMOTE_ADDR=addr).get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "permission_denied"


def test_with_a_token_only_the_bearer_of_it_is_answered(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403
    wrong = Client(REMOTE_ADDR="10.0.0.9").get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = Client(REMOTE_ADDR="10.0.0.9").get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert right.status_code == 200
    assert b"billing_usage_events_total" in right.content


def test_metrics_are_not_in_the_api_schema(anon):
    schema = anon.get("/api/schema", HTTP_ACCEPT="application/json").content.decode()
    assert "/metrics" not in schema


def test_a_worker_serves_its_pool_metrics_under_the_same_rules(settings):
    import http.client

    from billing_project.observability.views import worker_metrics_serve

    server = worker_metrics_serve(addr="127.0.0.1", port=0)
    port = server.server_address[1]

    def get(headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics", headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()

    try:
        status, body = get()
        assert status == 200 and b"billing_usage_events_total" in body
        assert b"billing_scrape_probe_up" not in body  # database gauges come from the web's /metrics
        settings.METRICS_TOKEN = "worker-token"
        assert get()[0] == 403
        assert get({"Authorization": "Bearer worker-token"})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
