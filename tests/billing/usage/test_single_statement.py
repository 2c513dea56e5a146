"""A single event is stored by one statement, its own durable transaction, with every guarantee kept.

Outside an atomic block (a served request) the event takes one round trip: no BEGIN, context query
or COMMIT. Whatever that statement cannot decide alone (a quota, a closed period, a metric the
process has not seen, an invalid field) goes through the transactional path, with the same answers.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from billing.models import Invoice, Metric, Tenant, UsageEvent, UsageHourly
from billing.services import usage as usage_service
from billing.services.usage import usage_record
from quotas.models import Quota
from tests.billing.usage.conftest import BASE, iso
from tests.billing.usage.test_validation import errors_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def statements(monkeypatch):
    """Record every statement the ingest sends on its psycopg cursors, and every commit."""
    seen: list[str] = []
    execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

    def recording(self, query, *args, **kwargs):
        seen.append(" ".join(str(query).split())[:40])
        return execute(self, query, *args, **kwargs)

    def committing(self):
        seen.append("COMMIT")
        return commit(self)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    monkeypatch.setattr(psycopg.Connection, "commit", committing)
    return seen


def _durable_elsewhere(tenant_id: str, event_id: str) -> bool:
    """Return whether another connection sees the event (it was committed, not just written)."""
    from django.db import connection

    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as other:
        row = other.execute(
            "SELECT count(*) FROM billing_usageevent WHERE tenant_id = %s AND event_id = %s", [tenant_id, event_id]
        ).fetchone()
    return row[0] == 1


def _known_catalog(service):
    """Let the process see the catalog once (any ingest's context query does)."""
    assert service.post(f"{BASE}/warmup/usage/batch", {"events": [{"event_id": "w", "metric": "jobs"}]}, format="json")


def test_one_statement_stores_a_new_tenants_event_durably(catalog, service, statements):
    _known_catalog(service)
    statements.clear()
    r = service.post(f"{BASE}/newco/usage", {"event_id": "a", "metric": "api_calls", "quantity": "2.5"}, format="json")
    assert r.status_code == 201 and r.json() == {"event_id": "a", "duplicate": False}
    assert len(statements) == 1 and statements[0].startswith("WITH src"), statements
    assert _durable_elsewhere("newco", "a")
    assert Tenant.objects.filter(id="newco").exists()
    assert UsageHourly.objects.get(tenant_id="newco", metric_id="api_calls").quantity_sum == 2.5
    again = service.post(f"{BASE}/newco/usage", {"event_id": "a", "metric": "api_calls"}, format="json")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert UsageHourly.objects.get(tenant_id="newco", metric_id="api_calls").event_count == 1


def test_an_unseen_metric_takes_the_catalog_path(catalog, service, monkeypatch):
    monkeypatch.setattr(usage_service._Catalog, "metrics", {})
    r = service.post(f"{BASE}/acme/usage", {"event_id": "a", "metric": "jobs"}, format="json")
    assert r.status_code == 201
    assert "jobs" in usage_service._Catalog.metrics


def test_a_metric_gone_from_the_catalog_is_refused_not_counted_as_a_duplicate(catalog, service, monkeypatch):
    monkeypatch.setattr(usage_service._Catalog, "metrics", {"ghost": ("sum", ""), **usage_service._Catalog.metrics})
    r = service.post(f"{BASE}/acme/usage", {"event_id": "g", "metric": "ghost"}, format="json")
    assert errors_of(r) == {("metric", "unknown_metric")}
    assert not UsageEvent.objects.filter(event_id="g").exists()
    assert not Tenant.objects.filter(id="acme").exists()


def test_a_closed_period_is_refused_and_writes_nothing(catalog, tenant, service, month_start):
    _known_catalog(service)
    prev_start = (month_start - timedelta(days=1)).replace(day=1)
    Invoice.objects.create(
        tenant=tenant, status="paid", currency="USD", period_start=prev_start, period_end=month_start
    )
    event = {"event_id": "late", "metric": "jobs", "timestamp": iso(prev_start + timedelta(days=2))}
    r = service.post(f"{BASE}/acme/usage", event, format="json")
    assert errors_of(r) == {("timestamp", "period_closed")}
    assert not UsageEvent.objects.filter(event_id="late").exists()
    assert not UsageHourly.objects.filter(tenant_id="acme").exists()


def test_a_tenant_with_a_hard_quota_is_enforced(catalog, tenant, service, statements):
    _known_catalog(service)
    Quota.objects.create(
        tenant=tenant, metric=Metric.objects.get(code="jobs"), limit=2, period="month", enforcement="hard"
    )
    codes = []
    for i in range(3):
        statements.clear()
        codes.append(service.post(f"{BASE}/acme/usage", {"event_id": f"q{i}", "metric": "jobs"}, format="json"))
        # once seen with a quota, the tenant skips the one-statement attempt
        assert any(s.startswith("WITH src") for s in statements) is (i == 0), statements
    assert [r.status_code for r in codes] == [201, 201, 429]
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 2


def test_an_invalid_event_reports_every_problem(catalog, service):
    _known_catalog(service)
    r = service.post(f"{BASE}/acme/usage", {"event_id": "", "metric": "jobs", "quantity": -1}, format="json")
    assert errors_of(r) == {("event_id", "required"), ("quantity", "min_value")}
    assert not Tenant.objects.filter(id="acme").exists()


def test_usage_record_in_an_outer_transaction_rolls_back_with_it(catalog, service):
    from django.db import transaction

    _known_catalog(service)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        assert usage_record(tenant_id="acme", event={"event_id": "o", "metric": "jobs"})
        raise Boom
    assert not UsageEvent.objects.filter(event_id="o").exists()
    assert usage_record(tenant_id="acme", event={"event_id": "o", "metric": "jobs"})


def test_a_level_reading_takes_the_path_that_refolds_the_level_rollup(catalog, service, statements):
    from billing.models.usage_levels import UsageLevel

    _known_catalog(service)
    statements.clear()
    r = service.post(
        f"{BASE}/acme/usage", {"event_id": "l1", "metric": "storage_gb_month", "quantity": 5}, format="json"
    )
    assert r.status_code == 201
    assert not any(s.startswith("WITH src") for s in statements), statements
    assert UsageLevel.objects.filter(tenant_id="acme", metric_id="storage_gb_month").count() == 1
