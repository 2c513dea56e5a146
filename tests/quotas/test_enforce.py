"""Hard quotas refuse usage at ingestion: single, batch, and exactly under concurrent ingestion."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from billing.models import Tenant, UsageEvent, UsageHourly
from billing_project.errors import QuotaExceeded
from quotas.models import Quota
from quotas.services.enforce import quotas_enforce_hard
from tests.conftest import make_client

USAGE = "/api/v1/billing/tenants/acme/usage"


def hard_quota(limit, metric="api_calls", period="day", enforcement="hard", tenant_id="acme"):
    return Quota.objects.create(
        tenant_id=tenant_id, metric_id=metric, limit=Decimal(limit), period=period, enforcement=enforcement
    )


def write_usage(tenant_id, metric, quantity, at):
    """Insert one raw event and fold it into the hourly rollup, as the ingest does."""
    UsageEvent.objects.create(
        tenant_id=tenant_id,
        event_id=f"e-{UsageEvent.objects.count()}",
        metric_id=metric,
        quantity=Decimal(quantity),
        timestamp=at,
        received_at=at,
    )
    hour = at.replace(minute=0, second=0, microsecond=0)
    row, _ = UsageHourly.objects.get_or_create(tenant_id=tenant_id, metric_id=metric, hour=hour)
    row.quantity_sum += Decimal(quantity)
    row.quantity_max = max(row.quantity_max, Decimal(quantity))
    row.event_count += 1
    row.save()


@pytest.mark.django_db
def test_enforce_directly_allows_reaching_the_limit_and_refuses_going_past(tenant, catalog):
    hard_quota("100")
    at = timezone.now().replace(minute=30)
    if at > timezone.now():
        at -= timedelta(hours=1)
    write_usage("acme", "api_calls", "60", at)
    write_usage("acme", "api_calls", "40", at)
    quotas_enforce_hard(tenant_id="acme", touched={"api_calls": [at]}, now=timezone.now())  # exactly 100: fine
    with pytest.raises(QuotaExceeded) as excinfo, transaction.atomic():
        write_usage("acme", "api_calls", "0.5", at)
        quotas_enforce_hard(tenant_id="acme", touched={"api_calls": [at]}, now=timezone.now())
    assert "api_calls" in str(excinfo.value.detail)
    assert "limit 100" in str(excinfo.value.detail) and "used 100.5" in str(excinfo.value.detail)
    # Another day's window, a soft quota, and another metric are not limited by it.
    quotas_enforce_hard(tenant_id="acme", touched={"jobs": [at]}, now=timezone.now())
    yesterday = at - timedelta(days=1)
    write_usage("acme", "api_calls", "100", yesterday)
    quotas_enforce_hard(tenant_id="acme", touched={"api_calls": [yesterday]}, now=timezone.now())


@pytest.mark.django_db
def test_single_event_over_a_hard_quota_is_429_and_not_stored(api, tenant, catalog):
    hard_quota("10")
    acme = api("tenant", "acme")
    r = acme.post(USAGE, {"event_id": "a", "metric": "api_calls", "quantity": "10"}, format="json")
    assert r.status_code == 201, r.content
    r = acme.post(USAGE, {"event_id": "b", "metric": "api_calls", "quantity": "0.001"}, format="json")
    assert r.status_code == 429
    assert r.json()["errors"][0]["code"] == "quota_exceeded"
    assert "api_calls" in r.json()["errors"][0]["detail"]
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["a"]
    assert UsageHourly.objects.get(metric_id="api_calls").quantity_sum == 10
    # Other metrics still flow.
    assert acme.post(USAGE, {"event_id": "c", "metric": "jobs"}, format="json").status_code == 201


@pytest.mark.django_db
def test_batch_over_a_hard_quota_stores_nothing(api, service, tenant, catalog):
    hard_quota("5", metric="jobs", period="month")
    events = [{"event_id": f"j{i}", "metric": "jobs"} for i in range(6)]
    events.insert(0, {"event_id": "api", "metric": "api_calls", "quantity": "3"})
    r = service.post(f"{USAGE}/batch", {"events": events}, format="json")
    assert r.status_code == 429 and r.json()["errors"][0]["code"] == "quota_exceeded"
    assert UsageEvent.objects.count() == 0 and UsageHourly.objects.count() == 0
    r = service.post(f"{USAGE}/batch", {"events": events[:6]}, format="json")
    assert r.status_code == 200 and r.json()["accepted"] == 6


@pytest.mark.django_db
def test_soft_quota_never_refuses(api, tenant, catalog):
    hard_quota("1", enforcement="soft")
    r = api("tenant", "acme").post(USAGE, {"event_id": "a", "metric": "api_calls", "quantity": "50"}, format="json")
    assert r.status_code == 201


@pytest.mark.django_db
def test_max_metric_quota_limits_the_peak(api, tenant, catalog):
    hard_quota("100", metric="storage_gb", period="month")
    acme = api("tenant", "acme")
    assert (
        acme.post(USAGE, {"event_id": "a", "metric": "storage_gb", "quantity": "100"}, format="json").status_code == 201
    )
    assert (
        acme.post(USAGE, {"event_id": "b", "metric": "storage_gb", "quantity": "90"}, format="json").status_code == 201
    )
    assert (
        acme.post(USAGE, {"event_id": "c", "metric": "storage_gb", "quantity": "101"}, format="json").status_code == 429
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_hour", [True, False])
def test_two_clients_racing_past_the_limit_exactly_one_gets_in(catalog, same_hour):
    Tenant.objects.create(id="acme")
    hard_quota("100", period="day")
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Different hours mean different rollup rows: only the quota lock serializes the two ingests.
    stamps = (
        [now - timedelta(seconds=1), now - timedelta(seconds=2)]
        if same_hour or now - midnight < timedelta(hours=1)
        else [now - timedelta(seconds=1), midnight + timedelta(seconds=1)]
    )
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post(i):
        try:
            client = make_client("service", sub=f"racer-{i}")
            barrier.wait(timeout=10)
            r = client.post(
                f"{USAGE}/batch",
                {
                    "events": [
                        {
                            "event_id": f"race-{i}-{k}",
                            "metric": "api_calls",
                            "quantity": "20",
                            "timestamp": stamps[i].isoformat(),
                        }
                        for k in range(3)
                    ]
                },
                format="json",
            )
            statuses.append(r.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200, 429]
    assert UsageEvent.objects.count() == 3
    assert sum(UsageEvent.objects.values_list("quantity", flat=True)) == 60
