"""GET /usage/summary: every group_by, exact edges, defaults, filters, roles and tenant isolation."""

from datetime import timedelta

import pytest

from billing.models import Plan, Subscription

from .conftest import BASE, at, iso, rows_by

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(catalog, tenant, post_batch, month_start):
    """Store a known spread of usage for acme (and some noise for globex)."""
    from costcenters.models import CostCenter

    CostCenter.objects.create(tenant=tenant, code="eng", name="Engineering")
    m = month_start
    events = [
        # api_calls (sum): day 1 10:00-11:00 and day 2
        {
            "event_id": "a1",
            "metric": "api_calls",
            "quantity": 10,
            "timestamp": at(m, hours=10, minutes=15),
            "resource_id": "vm-1",
            "cost_center": "eng",
        },
        {
            "event_id": "a2",
            "metric": "api_calls",
            "quantity": "2.5",
            "timestamp": at(m, hours=10, minutes=45),
            "resource_id": "vm-2",
        },
        {
            "event_id": "a3",
            "metric": "api_calls",
            "quantity": 4,
            "timestamp": at(m, hours=11, minutes=30),
            "resource_id": "vm-1",
        },
        {"event_id": "a4", "metric": "api_calls", "quantity": 100, "timestamp": at(m, days=1, hours=5)},
        # storage_gb (max)
        {
            "event_id": "s1",
            "metric": "storage_gb",
            "quantity": 8,
            "timestamp": at(m, hours=10, minutes=20),
            "resource_id": "bucket",
        },
        {
            "event_id": "s2",
            "metric": "storage_gb",
            "quantity": 3,
            "timestamp": at(m, days=1, hours=1),
            "resource_id": "bucket",
            "cost_center": "eng",
        },
        # active_users (unique_count)
        {
            "event_id": "u1",
            "metric": "active_users",
            "properties": {"user_id": "ann"},
            "timestamp": at(m, hours=10, minutes=1),
        },
        {
            "event_id": "u2",
            "metric": "active_users",
            "properties": {"user_id": "bob"},
            "timestamp": at(m, hours=10, minutes=50),
        },
        {
            "event_id": "u3",
            "metric": "active_users",
            "properties": {"user_id": "ann"},
            "timestamp": at(m, days=1, hours=2),
        },
    ]
    assert post_batch("acme", events).json()["accepted"] == 9
    assert (
        post_batch(
            "globex", [{"event_id": "a1", "metric": "api_calls", "quantity": 5000, "timestamp": at(m, hours=10)}]
        ).json()["accepted"]
        == 1
    )
    return m


def test_group_by_metric_default_range_is_calendar_month(usage, summary, month_start):
    r = summary("acme")
    body = r.json()
    assert r.status_code == 200
    assert body["tenant_id"] == "acme"
    assert body["from"] == iso(month_start).replace(".000000", "")
    rows = rows_by(r)
    assert rows["api_calls"]["quantity"] == "116.5" and rows["api_calls"]["events"] == 4
    assert rows["storage_gb"]["quantity"] == "8" and rows["storage_gb"]["events"] == 2
    assert rows["active_users"]["quantity"] == "2" and rows["active_users"]["events"] == 3
    assert rows["jobs"] == {"metric": "jobs", "aggregation": "count", "quantity": "0", "events": 0}


def test_partial_hours_at_both_edges_are_exact(usage, summary):
    # [10:30, 11:45) takes a2 (10:45) and a3 (11:30) but not a1 (10:15)
    r = summary(
        "acme", **{"from": at(usage, hours=10, minutes=30), "to": at(usage, hours=11, minutes=45)}, metric="api_calls"
    )
    assert r.json()["results"] == [{"metric": "api_calls", "aggregation": "sum", "quantity": "6.5", "events": 2}]
    r = summary("acme", **{"from": at(usage, hours=10, minutes=30), "to": at(usage, days=2)})
    rows = rows_by(r)
    assert rows["api_calls"]["quantity"] == "106.5"
    assert rows["active_users"]["quantity"] == "2"  # bob 10:50 and ann on day 2
    assert rows["storage_gb"]["quantity"] == "3"


def test_group_by_day(usage, summary):
    r = summary("acme", group_by="day", metric="api_calls")
    assert r.json()["results"] == [
        {
            "metric": "api_calls",
            "aggregation": "sum",
            "quantity": "16.5",
            "events": 3,
            "bucket": iso(usage)[:10] + "T00:00:00Z",
        },
        {
            "metric": "api_calls",
            "aggregation": "sum",
            "quantity": "100",
            "events": 1,
            "bucket": iso(usage + timedelta(days=1))[:10] + "T00:00:00Z",
        },
    ]
    users = [x for x in summary("acme", group_by="day").json()["results"] if x["metric"] == "active_users"]
    assert [(x["quantity"], x["events"]) for x in users] == [("2", 2), ("1", 1)]


def test_group_by_hour_with_partial_edge(usage, summary):
    r = summary(
        "acme",
        group_by="hour",
        metric="api_calls",
        **{"from": at(usage, hours=10, minutes=30), "to": at(usage, days=1)},
    )
    assert [(x["bucket"], x["quantity"], x["events"]) for x in r.json()["results"]] == [
        (at(usage, hours=10)[:19] + "Z", "2.5", 1),
        (at(usage, hours=11)[:19] + "Z", "4", 1),
    ]
    storage = summary("acme", group_by="hour", metric="storage_gb").json()["results"]
    assert [(x["quantity"], x["aggregation"]) for x in storage] == [("8", "max"), ("3", "max")]


def test_group_by_resource(usage, summary):
    r = summary("acme", group_by="resource")
    got = {(x["metric"], x["resource_id"]): (x["quantity"], x["events"]) for x in r.json()["results"]}
    assert got == {
        ("active_users", None): ("2", 3),
        ("api_calls", None): ("100", 1),
        ("api_calls", "vm-1"): ("14", 2),
        ("api_calls", "vm-2"): ("2.5", 1),
        ("storage_gb", "bucket"): ("8", 2),
    }
    assert [x["resource_id"] for x in r.json()["results"] if x["metric"] == "api_calls"] == [None, "vm-1", "vm-2"]


def test_group_by_cost_center(usage, summary):
    r = summary("acme", group_by="cost_center", metric="api_calls")
    assert r.json()["results"] == [
        {"metric": "api_calls", "aggregation": "sum", "quantity": "106.5", "events": 3, "cost_center": None},
        {"metric": "api_calls", "aggregation": "sum", "quantity": "10", "events": 1, "cost_center": "eng"},
    ]


def test_deleted_cost_center_still_reports_under_its_code(usage, summary):
    from django.utils import timezone

    from costcenters.models import CostCenter

    CostCenter.objects.filter(code="eng").update(deleted_at=timezone.now())
    r = summary("acme", group_by="cost_center", metric="storage_gb")
    assert {x["cost_center"]: x["quantity"] for x in r.json()["results"]} == {None: "8", "eng": "3"}


def test_default_range_is_the_live_subscriptions_period(usage, summary, tenant):
    start = usage + timedelta(days=1)
    Subscription.objects.create(
        tenant=tenant,
        plan=Plan.objects.get(id="pro"),
        status="active",
        currency="USD",
        started_at=start,
        current_period_start=start,
        current_period_end=start + timedelta(days=30),
        invoiced_through=start,
    )
    body = summary("acme").json()
    assert body["from"] == iso(start)[:19] + "Z"
    assert body["to"] == iso(start + timedelta(days=30))[:19] + "Z"
    assert rows_by(summary("acme"))["api_calls"]["quantity"] == "100"


def test_bad_parameters_are_400(usage, summary):
    for params in (
        {"group_by": "week"},
        {"from": "not-a-date"},
        {"to": "2026-13-45"},
        {"metric": "nope"},
        {"from": "2026-02-01", "to": "2026-01-01"},
    ):
        r = summary("acme", **params)
        assert r.status_code == 400, params
        assert r.json()["errors"][0]["attr"] in ("group_by", "from", "to", "metric")


def test_roles(usage, api, service, summary):
    assert summary("acme", client=service).status_code == 403
    assert summary("acme", client=api("tenant", "acme")).status_code == 200
    assert summary("acme", client=api("tenant", "globex")).status_code == 403
    mine = rows_by(summary("globex", client=api("tenant", "globex")))
    assert mine["api_calls"]["quantity"] == "5000"
    intruder = api("tenant", "globex")
    r = intruder.post(f"{BASE}/acme/usage", {"event_id": "x", "metric": "jobs"}, format="json")
    assert r.status_code == 403
    r = intruder.post(f"{BASE}/acme/usage/batch", {"events": [{"event_id": "x", "metric": "jobs"}]}, format="json")
    assert r.status_code == 403
    own = api("tenant", "acme").post(f"{BASE}/acme/usage", {"event_id": "mine", "metric": "jobs"}, format="json")
    assert own.status_code == 201
    fin = api("finance").post(
        f"{BASE}/globex/usage/batch", {"events": [{"event_id": "f", "metric": "jobs"}]}, format="json"
    )
    assert fin.json() == {"accepted": 1, "duplicates": 0}
    assert rows_by(summary("acme"))["jobs"]["quantity"] == "1"
    anon_r = api("service").__class__().get(f"{BASE}/acme/usage/summary")
    assert anon_r.status_code == 401
