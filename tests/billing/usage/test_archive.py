"""Raw-event retention: a closed month goes to Parquet and leaves the table; what the API shows is unchanged.

Three tenants in January 2026 (sum, unique_count, max, count metrics; a weighted_sum whose January
reading carries into April; a subscription whose periods start at 10:37:12, so invoice edges fall
inside hours), invoiced through March by the invoice run, then January archived with a two-month
retention on April 10: summaries (whole month, by day, by hour, the odd period), invoices and the
current period's real-time cost answer exactly as before, and the Parquet file matches the rollups.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pyarrow.parquet as pq
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from billing.models import Invoice, InvoiceLine, UsageEvent, UsageEventKey, UsageHourly
from billing.selectors.usage import usage_by_metric
from billing.services.invoices import invoices_run
from billing.services.usage import usage_ingest
from billing.services.usage_archive import usage_archive_due, usage_archive_month
from billing.services.usage_files import parquet_schema
from billing.services.usage_partitions import default_partition, partition_name, usage_partitions_ensure
from billing.tasks.maintenance import usage_archive as archive_task
from tests.billing.invoices.conftest import make_sub

from .conftest import BASE, iso

pytestmark = pytest.mark.django_db
JAN, FEB, APR_10 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 10, tzinfo=UTC)
MID = datetime(2026, 1, 15, 10, 37, 12, tzinfo=UTC)


def _events(clock) -> None:
    clock.set(JAN)
    make_sub("acme", "pro", started_at=JAN)
    make_sub("mid", "pro", started_at=MID)
    make_sub("globex", "cloud-enterprise", started_at=JAN)
    batches: dict[str, list] = {"acme": [], "mid": [], "globex": []}
    for i in range(60):
        at = JAN + timedelta(hours=7 * i, minutes=i)
        batches["acme"] += [
            {"event_id": f"a{i}", "metric": "api_calls", "quantity": str(i % 7 + 1), "timestamp": iso(at)},
            {"event_id": f"u{i}", "metric": "active_users", "timestamp": iso(at), "properties": {"user_id": i % 9}},
            {"event_id": f"s{i}", "metric": "storage_gb", "quantity": str(i % 13), "timestamp": iso(at)},
        ]
        late = MID + timedelta(minutes=3 + 101 * i)
        batches["mid"] += [
            {"event_id": f"m{i}", "metric": "jobs", "timestamp": iso(late)},
            {"event_id": f"v{i}", "metric": "active_users", "timestamp": iso(late), "properties": {"user_id": i % 5}},
        ]
    for r in range(3):
        batches["globex"] += [
            {
                "event_id": f"g{r}-{d}",
                "metric": "storage_gb_month",
                "quantity": str(10 * r + d),
                "resource_id": f"b{r}",
                "timestamp": iso(JAN + timedelta(days=d, hours=r)),
            }
            for d in (2, 9, 20)
        ]
    clock.set(FEB)
    for tenant_id, events in batches.items():
        for lo in range(0, len(events), 500):
            usage_ingest(tenant_id=tenant_id, events=events[lo : lo + 500])


def _observed(as_) -> dict:
    finance = as_("finance")
    usage = f"{BASE}/{{}}/usage/summary"
    seen = {
        (tenant_id, group_by, lo): finance.get(
            usage.format(tenant_id), {"from": iso(lo), "to": iso(hi), **group}
        ).json()
        for tenant_id in ("acme", "mid", "globex")
        for lo, hi in ((JAN, FEB), (MID, MID + timedelta(days=31)), (JAN + timedelta(hours=5, minutes=20), FEB))
        for group_by, group in (("metric", {}), ("day", {"group_by": "day"}), ("hour", {"group_by": "hour"}))
    }
    seen["lines"] = sorted(
        InvoiceLine.objects.values_list("invoice__tenant_id", "period_start", "metric", "quantity", "amount"), key=str
    )
    # What pricing an invoice reads: every metric over every invoiced period.
    for tenant_id, lo, hi in Invoice.objects.values_list("tenant_id", "period_start", "period_end"):
        seen[("period", tenant_id, lo)] = usage_by_metric(tenant_id=tenant_id, start=lo, end=hi)
    for tenant_id in ("acme", "globex"):
        cost = finance.get(f"/api/v1/billing/realtime-cost/tenants/{tenant_id}/current")
        assert cost.status_code == 200
        seen[("current", tenant_id)] = cost.json()
    return seen


@pytest.fixture
def january(catalog, clock, settings):
    settings.BILLING_PDF_ON_FINALIZE = False
    _events(clock)
    clock.set(APR_10)
    invoices_run(at=APR_10, sync=True)
    assert not Invoice.objects.filter(period_start__lt=FEB).exclude(status__in=("open", "paid")).exists()
    usage_partitions_ensure(now=JAN, ahead=2)  # moves January–March out of the default partition


def test_a_closed_month_is_archived_and_every_answer_is_unchanged(january, as_, tmp_path):
    before = _observed(as_)
    jan_events = UsageEvent.objects.filter(timestamp__gte=JAN, timestamp__lt=FEB).count()
    keys = UsageEventKey.objects.count()

    results = usage_archive_due(now=APR_10, retention=2, archive_dir=str(tmp_path))

    assert [(r.month, r.status, r.events) for r in results] == [("2026-01", "archived", jan_events)]
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [partition_name(JAN)])
        assert cur.fetchone()[0] is None
        cur.execute(f"SELECT count(*) FROM {default_partition()}")
        assert cur.fetchone()[0] == results[0].kept < jan_events
    assert _observed(as_) == before
    assert UsageEventKey.objects.count() == keys  # a re-sent event stays a duplicate
    table = pq.read_table(results[0].path)
    assert table.num_rows == jan_events
    assert table.schema == parquet_schema()  # export_usage's columns and types
    hourly = UsageHourly.objects.filter(hour__gte=JAN, hour__lt=FEB)
    for metric in ("api_calls", "storage_gb_month", "jobs"):
        in_file = sum(
            q for m, q in zip(table["metric"].to_pylist(), table["quantity"].to_pylist(), strict=True) if m == metric
        )
        assert in_file == sum(h.quantity_sum for h in hourly.filter(metric_id=metric)) > 0
    assert usage_archive_due(now=APR_10, retention=2, archive_dir=str(tmp_path)) == []  # nothing left to do


def test_a_month_with_an_uninvoiced_tenant_is_kept(january, tmp_path):
    usage_ingest(
        tenant_id="newco", events=[{"event_id": "n1", "metric": "jobs", "timestamp": iso(JAN + timedelta(days=3))}]
    )
    result = usage_archive_month(JAN, archive_dir=str(tmp_path))
    assert (result.status, "newco" in result.detail) == ("open", True)
    assert UsageEvent.objects.filter(timestamp__lt=FEB, tenant_id="newco").count() == 1
    assert not list(tmp_path.iterdir())


def test_dry_run_command_and_task_change_nothing(january, tmp_path, settings):
    jan_events = UsageEvent.objects.filter(timestamp__gte=JAN, timestamp__lt=FEB).count()
    out = StringIO()
    call_command("archive_usage", "--dry-run", "--month", "2026-01", "--dir", str(tmp_path), stdout=out)
    assert f"2026-01: would_archive ({jan_events} events" in out.getvalue()
    settings.BILLING_RAW_RETENTION_MONTHS = None
    assert archive_task.delay().get() == []
    out = StringIO()
    call_command("archive_usage", stdout=out)
    assert "every raw event is kept" in out.getvalue()
    assert UsageEvent.objects.filter(timestamp__gte=JAN, timestamp__lt=FEB).count() == jan_events
    assert not list(tmp_path.iterdir())


def test_beat_runs_the_archiver_daily():
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == archive_task.name)
    assert entry["schedule"] <= 86400
    assert settings.BILLING_RAW_RETENTION_MONTHS is None  # default: keep everything
