"""Distributable by tenant (README "Scaling out"): every statement on the usage tables names its tenant.

Under Citus with `tenant_id` as distribution column a usage statement without a tenant_id predicate fans
out to every shard (or fails, for an INSERT/ON CONFLICT whose key lacks it). This captures the SQL of a
batch ingest, a usage summary and a bill preview, and fails on any usage-table statement that does not
pin tenant_id. Django's cursors are captured by CaptureQueriesContext; the ingest runs its statements on
a server-binding psycopg cursor of the same connection, so those are recorded by a spy on its execute.
"""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import (
    UsageDailyDistinct,
    UsageDimCoverage,
    UsageDimHourly,
    UsageDimRollup,
    UsageEvent,
    UsageEventKey,
    UsageHourly,
    UsageLevel,
    UsageRollup,
)
from tests.realtime.helpers import BASE, subscribe

pytestmark = pytest.mark.django_db

USAGE_MODELS = (
    UsageEventKey,
    UsageEvent,
    UsageRollup,
    UsageHourly,
    UsageDailyDistinct,
    UsageDimHourly,
    UsageDimRollup,
    UsageDimCoverage,
    UsageLevel,
)
TABLES = "|".join(m._meta.db_table for m in USAGE_MODELS)
# A reference to a usage table: what follows it (up to the next one) must hold its tenant predicate.
REFERENCE = re.compile(rf'\b(INSERT\s+INTO|FROM|JOIN|UPDATE)\s+"?({TABLES})"?\b', re.IGNORECASE)
PREDICATE = re.compile(r'tenant_id"?\s*(=|IN\b)', re.IGNORECASE)
INSERT_COLUMNS = re.compile(r'^\s*(AS\s+\w+\s*)?\(\s*"?tenant_id"?\s*,', re.IGNORECASE)
CONFLICT = re.compile(r"ON\s+CONFLICT\s*\(([^)]*)\)", re.IGNORECASE)


def unscoped(sql: str) -> list[str]:
    """Return the usage-table references in `sql` that do not pin tenant_id (empty when all do)."""
    refs = list(REFERENCE.finditer(sql))
    bad = []
    for i, ref in enumerate(refs):
        tail = sql[ref.end() : refs[i + 1].start() if i + 1 < len(refs) else len(sql)]
        if ref.group(1).upper().startswith("INSERT"):
            conflict = CONFLICT.search(tail)
            ok = bool(INSERT_COLUMNS.match(tail)) and (conflict is None or "tenant_id" in conflict.group(1))
        else:
            ok = bool(PREDICATE.search(tail))
        if not ok:
            bad.append(f"{ref.group(0)} in: {sql[:300]}")
    return bad


@pytest.fixture
def spy(monkeypatch):
    """Record the SQL run on raw psycopg cursors (the ingest's server-binding cursor)."""
    seen: list[str] = []
    execute = psycopg.Cursor.execute

    def recording(self, query, *args, **kwargs):
        seen.append(
            query if isinstance(query, str) else query.as_string(self) if hasattr(query, "as_string") else str(query)
        )
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    return seen


def test_the_guard_catches_a_query_without_tenant():
    assert unscoped(f"SELECT SUM(quantity) FROM {UsageEvent._meta.db_table} WHERE metric_id = 'x'")
    assert unscoped(f"INSERT INTO {UsageHourly._meta.db_table} (metric_id, hour) VALUES ('x', now())")
    assert not unscoped(
        f'SELECT 1 FROM "{UsageEvent._meta.db_table}" WHERE "{UsageEvent._meta.db_table}"."tenant_id" = %s'
    )


def test_ingest_summary_and_preview_pin_tenant_id(catalog, tenant, other_tenant, service, finance, spy):
    subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
    now = timezone.now()
    events = [
        {
            "event_id": f"e{i}",
            "metric": "api_calls",
            "quantity": 3,
            "timestamp": (now - timedelta(hours=i, minutes=7)).isoformat(),
        }
        for i in range(3)
    ]
    # a weighted_sum reading: the ingest refolds the level rollup, the summary reads it
    events.append({"event_id": "lvl", "metric": "storage_gb_month", "quantity": 5, "resource_id": "b1"})
    with CaptureQueriesContext(connection) as captured:
        assert service.post(f"{BASE}/tenants/acme/usage/batch", {"events": events}, format="json").status_code == 200
        single = {"event_id": "one", "metric": "api_calls", "quantity": 1}
        assert service.post(f"{BASE}/tenants/acme/usage", single, format="json").status_code == 201
        for group_by in ("metric", "hour", "day", "resource", "cost_center"):
            r = finance.get(f"{BASE}/tenants/acme/usage/summary", {"group_by": group_by})
            assert r.status_code == 200, group_by
        preview = finance.get(f"{BASE}/tenants/acme/billing/preview")
        assert preview.status_code == 200
    statements = [q["sql"] for q in captured.captured_queries] + spy
    touching = [sql for sql in statements if REFERENCE.search(sql)]
    # The capture saw the work: the ingest's insert and the reads of raw events and rollups.
    assert any(re.search(rf"INSERT INTO {UsageEvent._meta.db_table}", s) for s in touching)
    assert any(re.search(rf"FROM {UsageHourly._meta.db_table}", s) for s in touching)
    assert any(re.search(rf"INSERT INTO {UsageLevel._meta.db_table}", s) for s in touching)
    assert [bad for sql in touching for bad in unscoped(sql)] == []


def test_filtered_charges_pin_tenant_id_in_the_dimension_rollups(catalog, tenant, service, finance, spy):
    subscribe("acme", "cloud-enterprise", started_at=timezone.now() - timedelta(days=3))
    now = timezone.now()
    events = [
        {
            "event_id": f"c{i}",
            "metric": "compute_hours",
            "quantity": 2,
            "timestamp": (now - timedelta(hours=i, minutes=7)).isoformat(),
            "properties": {"type": "gpu" if i % 2 else "cpu"},
            "resource_id": f"vm-{i % 3}",
        }
        for i in range(5)
    ]
    with CaptureQueriesContext(connection) as captured:
        assert service.post(f"{BASE}/tenants/acme/usage/batch", {"events": events}, format="json").status_code == 200
        assert finance.get(f"{BASE}/tenants/acme/billing/preview").status_code == 200
        for view in ("by-resource", "timeline?granularity=hour"):
            assert finance.get(f"{BASE}/realtime-cost/tenants/acme/{view}").status_code == 200
    statements = [q["sql"] for q in captured.captured_queries] + spy
    touching = [sql for sql in statements if REFERENCE.search(sql)]
    for model in (UsageDimHourly, UsageDimRollup):
        assert any(re.search(rf"INSERT INTO {model._meta.db_table}", s) for s in touching)
        assert any(re.search(rf"JOIN {model._meta.db_table}", s) for s in touching)
    assert [bad for sql in touching for bad in unscoped(sql)] == []
