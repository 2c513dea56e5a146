"""Monthly partitions of the usage events: the schema tests run on, the default partition, the beat task."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from billing.models import UsageEvent, UsageEventKey, UsageHourly
from billing.services.usage import usage_ingest
from billing.services.usage_partitions import default_partition, month_start, partition_name, usage_partitions_ensure
from billing.tasks.maintenance import usage_partitions_ensure as ensure_task

pytestmark = pytest.mark.django_db
TABLE = UsageEvent._meta.db_table
OLD_MONTH = datetime(2021, 3, 1, tzinfo=UTC)


def _where(event_id: str) -> str:
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT tableoid::regclass::text FROM {TABLE} WHERE tenant_id = 'acme' AND event_id = %s", [event_id]
        )
        return cur.fetchone()[0]


def _event(event_id: str, ts: datetime, quantity: str = "1") -> dict:
    return {"event_id": event_id, "metric": "api_calls", "quantity": quantity, "timestamp": ts.isoformat()}


def test_tests_run_on_the_partitioned_table_with_this_month_and_the_next_two():
    with connection.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
        assert cur.fetchone()[0] == "p"
        cur.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass", [TABLE])
        partitions = {name for (name,) in cur.fetchall()}
    now = datetime.now(UTC)
    assert {default_partition(), *(partition_name(month_start(now, n)) for n in range(3))} <= partitions


def test_an_event_with_no_month_partition_is_stored_in_the_default_then_moved(catalog):
    assert usage_ingest(tenant_id="acme", events=[_event("old-1", OLD_MONTH.replace(day=5), "2")]).accepted == 1
    assert _where("old-1") == default_partition()

    created = usage_partitions_ensure(now=OLD_MONTH.replace(day=20), ahead=1)

    assert created == {partition_name(OLD_MONTH): 1, partition_name(month_start(OLD_MONTH, 1)): 0}
    assert _where("old-1") == partition_name(OLD_MONTH)
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 1
    assert usage_partitions_ensure(now=OLD_MONTH, ahead=1) == {}  # idempotent
    # Still exactly once after the move: the key table decides.
    assert usage_ingest(tenant_id="acme", events=[_event("old-1", OLD_MONTH.replace(day=5), "2")]).accepted == 0
    assert UsageHourly.objects.get(tenant_id="acme").quantity_sum == Decimal(2)


def test_exactly_once_across_months_is_the_key_table(catalog, now):
    assert usage_ingest(tenant_id="acme", events=[_event("k-1", now)]).accepted == 1
    # The same event id with a timestamp of another month (another partition) is a duplicate.
    again = usage_ingest(tenant_id="acme", events=[_event("k-1", OLD_MONTH), _event("k-2", OLD_MONTH)])
    assert (again.accepted, again.duplicates) == (1, 1)
    assert sorted(UsageEventKey.objects.filter(tenant_id="acme").values_list("event_id", flat=True)) == ["k-1", "k-2"]
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 2
    assert usage_ingest(tenant_id="other", events=[_event("k-1", now)]).accepted == 1  # per tenant


def test_beat_creates_the_partitions_ahead():
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == ensure_task.name)
    assert entry["schedule"] <= 86400
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE {partition_name(month_start(datetime.now(UTC), 2))}")
    assert ensure_task.delay().get() == {partition_name(month_start(datetime.now(UTC), 2)): 0}
