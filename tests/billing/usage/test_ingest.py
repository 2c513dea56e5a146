"""POST /usage and /usage/batch: exactly-once storage, duplicates counted, hooks called."""

from decimal import Decimal

import pytest

from billing.models import Tenant, UsageEvent, UsageHourly
from billing.services.usage import usage_ingest

from .conftest import BASE, at, rows_by

pytestmark = pytest.mark.django_db


def test_single_event_is_201_then_200_duplicate(catalog, service):
    body = {"event_id": "evt-1", "metric": "api_calls", "quantity": "2.5"}
    first = service.post(f"{BASE}/acme/usage", body, format="json")
    again = service.post(f"{BASE}/acme/usage", {**body, "quantity": "99"}, format="json")
    assert first.status_code == 201
    assert first.json() == {"event_id": "evt-1", "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"event_id": "evt-1", "duplicate": True}
    stored = UsageEvent.objects.get(tenant_id="acme", event_id="evt-1")
    assert stored.quantity == Decimal("2.5")
    assert UsageHourly.objects.get(tenant_id="acme", metric_id="api_calls").quantity_sum == Decimal("2.5")


def test_tenant_row_is_created_on_first_use(catalog, service):
    assert not Tenant.objects.filter(id="newco").exists()
    r = service.post(f"{BASE}/newco/usage", {"event_id": "a", "metric": "jobs"}, format="json")
    assert r.status_code == 201
    assert Tenant.objects.filter(id="newco").exists()


def test_defaults_quantity_one_and_timestamp_now(catalog, service, now):
    service.post(f"{BASE}/acme/usage", {"event_id": "d1", "metric": "jobs"}, format="json")
    ev = UsageEvent.objects.get(event_id="d1")
    assert ev.quantity == 1
    assert abs((ev.timestamp - now).total_seconds()) < 60
    assert ev.resource_id == "" and ev.cost_center == "" and ev.properties == {}


def test_batch_counts_duplicates_within_batch_and_against_stored(catalog, post_batch, month_start):
    stored = post_batch(
        "acme", [{"event_id": "x1", "metric": "api_calls", "quantity": 10, "timestamp": at(month_start, hours=1)}]
    )
    assert stored.json() == {"accepted": 1, "duplicates": 0}
    events = [
        {"event_id": "x1", "metric": "api_calls", "quantity": 1000, "timestamp": at(month_start, hours=1)},
        {"event_id": "x2", "metric": "api_calls", "quantity": 5, "timestamp": at(month_start, hours=1)},
        {"event_id": "x2", "metric": "api_calls", "quantity": 7, "timestamp": at(month_start, hours=1)},
        {"event_id": "x3", "metric": "api_calls", "quantity": "0.25", "timestamp": at(month_start, hours=2)},
    ]
    r = post_batch("acme", events)
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "duplicates": 2}
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 3
    # the first occurrence of x2 wins; x1 keeps its stored quantity
    assert UsageEvent.objects.get(event_id="x2").quantity == 5
    assert sum(h.quantity_sum for h in UsageHourly.objects.filter(tenant_id="acme")) == Decimal("15.25")


def test_same_event_id_in_two_tenants_is_two_events(catalog, post_batch):
    assert post_batch("acme", [{"event_id": "shared", "metric": "jobs"}]).json()["accepted"] == 1
    assert post_batch("globex", [{"event_id": "shared", "metric": "jobs"}]).json()["accepted"] == 1
    assert UsageEvent.objects.filter(event_id="shared").count() == 2


def test_exact_aggregations_per_metric(catalog, post_batch, summary, month_start):
    events = [
        {"event_id": "a1", "metric": "api_calls", "quantity": "1.000000000001", "timestamp": at(month_start, hours=3)},
        {"event_id": "a2", "metric": "api_calls", "quantity": "2.5", "timestamp": at(month_start, hours=3, minutes=5)},
        {"event_id": "a3", "metric": "api_calls", "quantity": 100, "timestamp": at(month_start, hours=30)},
        {"event_id": "s1", "metric": "storage_gb", "quantity": "7.5", "timestamp": at(month_start, hours=4)},
        {"event_id": "s2", "metric": "storage_gb", "quantity": "12.25", "timestamp": at(month_start, hours=5)},
        {"event_id": "s3", "metric": "storage_gb", "quantity": "3", "timestamp": at(month_start, hours=6)},
        {"event_id": "j1", "metric": "jobs", "quantity": 40, "timestamp": at(month_start, hours=7)},
        {"event_id": "j2", "metric": "jobs", "timestamp": at(month_start, hours=7)},
        {
            "event_id": "u1",
            "metric": "active_users",
            "properties": {"user_id": "ann"},
            "timestamp": at(month_start, hours=8),
        },
        {
            "event_id": "u2",
            "metric": "active_users",
            "properties": {"user_id": "bob"},
            "timestamp": at(month_start, hours=9),
        },
        {
            "event_id": "u3",
            "metric": "active_users",
            "properties": {"user_id": "ann"},
            "timestamp": at(month_start, hours=10),
        },
        {
            "event_id": "u4",
            "metric": "active_users",
            "properties": {"other": "x"},
            "timestamp": at(month_start, hours=10),
        },
    ]
    assert post_batch("acme", events).json() == {"accepted": 12, "duplicates": 0}
    rows = rows_by(summary("acme"))
    assert rows["api_calls"] == {
        "metric": "api_calls",
        "aggregation": "sum",
        "quantity": "103.500000000001",
        "events": 3,
    }
    assert rows["storage_gb"] == {"metric": "storage_gb", "aggregation": "max", "quantity": "12.25", "events": 3}
    assert rows["jobs"] == {"metric": "jobs", "aggregation": "count", "quantity": "2", "events": 2}
    assert rows["active_users"] == {
        "metric": "active_users",
        "aggregation": "unique_count",
        "quantity": "2",
        "events": 4,
    }


def test_idempotency_key_replays_single_post(catalog, service):
    body = {"event_id": "idem-1", "metric": "api_calls", "quantity": 3}
    first = service.post(f"{BASE}/acme/usage", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    replay = service.post(f"{BASE}/acme/usage", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == {"event_id": "idem-1", "duplicate": False}
    assert replay["Idempotent-Replayed"] == "true"
    other = service.post(f"{BASE}/acme/usage", {**body, "quantity": 4}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 409
    assert UsageEvent.objects.filter(event_id="idem-1").count() == 1
    assert UsageHourly.objects.get(tenant_id="acme").quantity_sum == 3


def test_signals_fire_after_commit_only_when_something_new(catalog, django_capture_on_commit_callbacks, monkeypatch):
    from billing.signals import usage_recorded

    seen = []
    scheduled = []

    def receiver(sender, tenant_id, **kw):
        seen.append(tenant_id)

    monkeypatch.setattr(
        "realtime.services.alerts.alerts_schedule_evaluation", lambda *, tenant_id: scheduled.append(tenant_id)
    )
    usage_recorded.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            usage_ingest(tenant_id="acme", events=[{"event_id": "s-1", "metric": "jobs"}])
        assert len(callbacks) == 1
        # a tenant without alerts is not even scheduled for an evaluation
        assert seen == ["acme"] and scheduled == []
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            usage_ingest(tenant_id="acme", events=[{"event_id": "s-1", "metric": "jobs"}])
        assert callbacks == []
        assert seen == ["acme"]
        from realtime.models import Alert

        Alert.objects.create(tenant_id="acme", type="cost_threshold", threshold=100)
        with django_capture_on_commit_callbacks(execute=True):
            usage_ingest(tenant_id="acme", events=[{"event_id": "s-2", "metric": "jobs"}])
        assert seen == ["acme", "acme"] and scheduled == ["acme"]
    finally:
        usage_recorded.disconnect(receiver)


def test_hard_quota_hook_sees_only_new_events_and_can_refuse(catalog, tenant, post_batch, monkeypatch, month_start):
    from billing_project.errors import QuotaExceeded
    from quotas.models import Quota

    calls = []

    def enforce(*, tenant_id, touched, now):
        calls.append((tenant_id, {m: len(ts) for m, ts in touched.items()}))
        if sum(len(ts) for ts in touched.values()) > 2:
            raise QuotaExceeded()

    monkeypatch.setattr("quotas.services.enforce.quotas_enforce_hard", enforce)
    # no hard quota: the hook is not consulted
    assert post_batch("acme", [{"event_id": "q0", "metric": "api_calls"}]).status_code == 200
    assert calls == []
    Quota.objects.create(tenant=tenant, metric_id="api_calls", limit=10, period="month", enforcement="hard")
    r = post_batch(
        "acme",
        [
            {"event_id": "q0", "metric": "api_calls"},
            {"event_id": "q1", "metric": "api_calls"},
            {"event_id": "q2", "metric": "jobs"},
        ],
    )
    assert r.json() == {"accepted": 2, "duplicates": 1}
    assert calls == [("acme", {"api_calls": 1, "jobs": 1})]
    refused = post_batch("acme", [{"event_id": f"q{i}", "metric": "api_calls"} for i in range(3, 6)])
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["code"] == "quota_exceeded"
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 3
    assert sum(h.event_count for h in UsageHourly.objects.filter(tenant_id="acme")) == 3


def test_a_batch_looks_for_duplicates_only_when_one_is_stored(catalog, tenant, monkeypatch, month_start):
    # first attempt without ON CONFLICT; a stored key fails it and the batch runs again skipping duplicates
    from billing.services import usage

    attempts = []
    real = usage._ingest_once

    def spy(*args, fresh=False):
        attempts.append(fresh)
        return real(*args, fresh=fresh)

    monkeypatch.setattr(usage, "_ingest_once", spy)
    hour = at(month_start, hours=3)
    first = [{"event_id": f"f{i}", "metric": "api_calls", "quantity": i, "timestamp": hour} for i in range(1, 5)]
    assert usage_ingest(tenant_id="acme", events=first).accepted == 4
    assert attempts == [True]
    attempts.clear()
    again = [*first[2:], {"event_id": "f9", "metric": "api_calls", "quantity": 9, "timestamp": hour}]
    result = usage_ingest(tenant_id="acme", events=again)
    assert (result.accepted, result.duplicates) == (1, 2)
    assert attempts == [True, False]
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 5
    hourly = UsageHourly.objects.filter(tenant_id="acme")
    assert sum(h.quantity_sum for h in hourly) == 1 + 2 + 3 + 4 + 9
    assert sum(h.event_count for h in hourly) == 5


def test_a_duplicate_batch_inside_an_outer_transaction_keeps_its_earlier_work(catalog, tenant, month_start):
    from django.db import transaction

    hour = at(month_start, hours=4)
    with transaction.atomic():
        Tenant.objects.filter(id="acme").update(name="kept")
        usage_ingest(tenant_id="acme", events=[{"event_id": "o1", "metric": "jobs", "timestamp": hour}])
        result = usage_ingest(
            tenant_id="acme",
            events=[
                {"event_id": "o1", "metric": "jobs", "timestamp": hour},
                {"event_id": "o2", "metric": "jobs", "timestamp": hour},
            ],
        )
    assert (result.accepted, result.duplicates) == (1, 1)
    assert Tenant.objects.get(id="acme").name == "kept"
    assert sorted(UsageEvent.objects.filter(tenant_id="acme").values_list("event_id", flat=True)) == ["o1", "o2"]
    assert sum(h.event_count for h in UsageHourly.objects.filter(tenant_id="acme")) == 2
