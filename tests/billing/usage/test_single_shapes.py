"""The single-event statement in its three shapes, and the single event's answer.

A metric without `unique_count` values or priced dimension keys gets a statement without the per-day
distinct and per-dimension inserts; the statement checks the metric still has that shape, so a
process whose catalog is stale writes nothing there and the transactional path stores the event
with every rollup. The answer is the bytes DRF's JSON renderer writes.
"""

from __future__ import annotations

import psycopg
import pytest
from psycopg import _queries
from rest_framework.renderers import JSONRenderer

from billing.models import UsageDailyDistinct, UsageEvent, UsageHourly
from billing.models.usage_dims import UsageDimHourly
from billing.services import usage as usage_service
from billing.services.usage_sql import single_sql
from tests.billing.usage.conftest import BASE

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = {
    "api_calls": {"metric": "api_calls", "quantity": "3"},
    "active_users": {"metric": "active_users", "properties": {"user_id": "u1"}},
    "compute_hours": {"metric": "compute_hours", "quantity": "2", "properties": {"type": "gpu"}},
}


@pytest.fixture
def sent(monkeypatch):
    """Record the text of every statement the ingest sends on its psycopg cursors.

    The process forgets the tenants earlier tests gave quotas (a remembered one skips the one statement).
    """
    monkeypatch.setattr(usage_service._Catalog, "quota_tenants", set())
    seen: list[str] = []
    execute = psycopg.Cursor.execute

    def recording(self, query, *args, **kwargs):
        seen.append(str(query))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    return seen


def _warm(service):
    r = service.post(f"{BASE}/warmup/usage/batch", {"events": [{"event_id": "w", "metric": "jobs"}]}, format="json")
    assert r.status_code == 200


def _stored_exactly(code: str, event_id: str) -> None:
    """Assert the event and every rollup of its metric hold it once."""
    event = UsageEvent.objects.get(tenant_id="acme", event_id=event_id)
    assert UsageHourly.objects.get(tenant_id="acme", metric_id=code).event_count == 1
    if code == "active_users":
        assert event.unique_key is not None
        assert UsageDailyDistinct.objects.filter(tenant_id="acme", metric_id=code).count() == 1
    if code == "compute_hours":
        dim = UsageDimHourly.objects.get(tenant_id="acme", metric_id=code)
        assert (dim.dims, dim.event_count, dim.quantity_sum) == ({"type": "gpu"}, 1, 2)


@pytest.mark.parametrize(
    ("code", "daily", "dims"),
    [("api_calls", False, False), ("active_users", True, False), ("compute_hours", True, True)],
)
def test_each_metric_takes_the_one_statement_of_its_shape(catalog, service, sent, code, daily, dims):
    _warm(service)
    sent.clear()
    r = service.post(f"{BASE}/acme/usage", {"event_id": "e1", **EVENTS[code]}, format="json")
    assert r.status_code == 201, r.content
    assert len(sent) == 1 and sent[0].startswith("WITH src"), sent
    assert ("billing_usagedailydistinct" in sent[0]) is daily
    assert ("billing_usagedimhourly" in sent[0]) is dims
    _stored_exactly(code, "e1")


@pytest.mark.parametrize("code", ["active_users", "compute_hours"])
def test_a_stale_plain_shape_writes_nothing_and_the_event_is_stored_with_every_rollup(
    catalog, service, sent, monkeypatch, code
):
    _warm(service)
    monkeypatch.setattr(usage_service._Catalog, "shapes", {**usage_service._Catalog.shapes, code: "plain"})
    sent.clear()
    r = service.post(f"{BASE}/acme/usage", {"event_id": "s1", **EVENTS[code]}, format="json")
    assert r.status_code == 201, r.content
    assert sent[0] == single_sql("plain")  # tried, refused by its own catalog check
    assert len(sent) > 1  # then the transactional path
    _stored_exactly(code, "s1")
    again = service.post(f"{BASE}/acme/usage", {"event_id": "s1", **EVENTS[code]}, format="json")
    assert again.status_code == 200 and again.json()["duplicate"] is True


def test_the_common_shapes_fit_psycopgs_cache_of_converted_queries():
    for shape in ("plain", "unique"):
        assert len(single_sql(shape).encode()) <= _queries.MAX_CACHED_STATEMENT_LENGTH, shape
    assert "\n" not in single_sql("full")


@pytest.mark.parametrize("event_id", ["plain-1", "é-ü-😀", "line\u2028sep\u2029x", 'quote"back\\slash'])
def test_the_answer_is_what_drfs_json_renderer_writes(catalog, service, event_id):
    _warm(service)
    r = service.post(f"{BASE}/acme/usage", {"event_id": event_id, "metric": "jobs"}, format="json")
    assert r.status_code == 201
    assert r["Content-Type"] == "application/json"
    assert r.content == JSONRenderer().render({"event_id": event_id, "duplicate": False})
    again = service.post(f"{BASE}/acme/usage", {"event_id": event_id, "metric": "jobs"}, format="json")
    assert again.status_code == 200
    assert again.content == JSONRenderer().render({"event_id": event_id, "duplicate": True})


def test_an_indented_json_answer_is_still_indented(catalog, service):
    r = service.post(
        f"{BASE}/acme/usage",
        {"event_id": "i1", "metric": "jobs"},
        format="json",
        HTTP_ACCEPT="application/json; indent=4",
    )
    assert r.status_code == 201
    assert r.content == b'{\n    "event_id": "i1",\n    "duplicate": false\n}'


def test_a_client_accepting_no_json_is_refused_as_before(catalog, service):
    r = service.post(f"{BASE}/acme/usage", {"event_id": "x1", "metric": "jobs"}, format="json", HTTP_ACCEPT="text/csv")
    assert r.status_code == 406
    assert r.json()["errors"][0]["code"] == "not_acceptable"
    assert not UsageEvent.objects.filter(event_id="x1").exists()


def test_the_single_statements_cursor_is_per_connection_and_survives_a_reconnect(catalog, service, sent):
    from django.db import connection

    _warm(service)
    assert service.post(f"{BASE}/acme/usage", {"event_id": "c1", "metric": "jobs"}, format="json").status_code == 201
    first = connection.connection._usage_single_cursor
    assert service.post(f"{BASE}/acme/usage", {"event_id": "c2", "metric": "jobs"}, format="json").status_code == 201
    assert connection.connection._usage_single_cursor is first
    connection.close()
    assert service.post(f"{BASE}/acme/usage", {"event_id": "c3", "metric": "jobs"}, format="json").status_code == 201
    assert connection.connection._usage_single_cursor is not first
    assert sorted(UsageEvent.objects.filter(tenant_id="acme").values_list("event_id", flat=True)) == ["c1", "c2", "c3"]
