"""Quotas: CRUD, validation, roles, tenant isolation and the check endpoint's windows and statuses."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from quotas.models import Quota
from tests.realtime.helpers import ingest, subscribe

URL = "/api/v1/billing/quotas"

pytestmark = pytest.mark.django_db


def create(client, tenant_id="acme", **fields):
    body = {"tenant_id": tenant_id, "metric": "api_calls", "limit": "100", **fields}
    return client.post(URL, body, format="json")


def error(response):
    return response.json()["errors"][0]


def check(client, tenant_id="acme", metric=None):
    r = client.get(f"{URL}/tenants/{tenant_id}/check" + (f"?metric={metric}" if metric else ""))
    assert r.status_code == 200, r.content
    return r.json()


def test_create_with_defaults(api, tenant, catalog):
    r = create(api("tenant", "acme"))
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["tenant_id"] == "acme" and body["metric"] == "api_calls" and body["limit"] == "100"
    assert (body["period"], body["enforcement"], body["warn_at_percent"]) == ("month", "soft", "80")
    assert set(body) == {
        "id",
        "tenant_id",
        "metric",
        "limit",
        "period",
        "enforcement",
        "warn_at_percent",
        "created_at",
        "updated_at",
    }


@pytest.mark.parametrize(
    "fields, attr",
    [
        ({"metric": "nope"}, "metric"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"period": "week"}, "period"),
        ({"enforcement": "strict"}, "enforcement"),
        ({"warn_at_percent": "101"}, "warn_at_percent"),
        ({"warn_at_percent": "-1"}, "warn_at_percent"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(finance, tenant, catalog, fields, attr):
    r = create(finance, **fields)
    assert r.status_code == 400, r.content
    assert error(r)["attr"] == attr


def test_roles_and_tenant_isolation(api, finance, service, tenant, other_tenant, catalog):
    acme, globex = api("tenant", "acme"), api("tenant", "globex")
    assert create(acme, tenant_id="globex").status_code == 403
    assert create(service).status_code == 403
    q = create(acme).json()
    assert acme.get(f"{URL}/tenants/acme").json()["count"] == 1
    assert acme.get(f"{URL}/tenants/globex").status_code == 403
    assert globex.put(f"{URL}/{q['id']}", {"limit": "5"}, format="json").status_code == 404
    assert globex.delete(f"{URL}/{q['id']}").status_code == 404
    assert service.get(f"{URL}/tenants/acme").status_code == 403
    assert service.put(f"{URL}/{q['id']}", {"limit": "5"}, format="json").status_code == 403
    assert service.delete(f"{URL}/{q['id']}").status_code == 403
    assert globex.get(f"{URL}/tenants/acme/check").status_code == 403
    # The service role may read quota checks, for any tenant.
    assert service.get(f"{URL}/tenants/acme/check").status_code == 200
    assert finance.get(f"{URL}/tenants/acme").json()["results"][0]["id"] == q["id"]
    assert Quota.objects.get(pk=q["id"]).limit == 100


def test_update_and_delete(api, tenant, other_tenant, catalog):
    acme = api("tenant", "acme")
    q = create(acme).json()
    r = acme.put(
        f"{URL}/{q['id']}",
        {"limit": "250.5", "enforcement": "hard", "period": "day", "warn_at_percent": "90", "metric": "jobs"},
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["limit"], body["enforcement"], body["period"], body["warn_at_percent"], body["metric"]) == (
        "250.5",
        "hard",
        "day",
        "90",
        "jobs",
    )
    r = acme.put(f"{URL}/{q['id']}", {"tenant_id": "globex", "metric": "jobs", "limit": "1"}, format="json")
    assert r.status_code == 400 and error(r)["attr"] == "tenant_id"
    r = acme.put(f"{URL}/{q['id']}", {"limit": "0", "metric": "jobs"}, format="json")
    assert r.status_code == 400 and error(r)["attr"] == "limit"
    assert acme.delete(f"{URL}/{q['id']}").status_code == 204
    assert acme.get(f"{URL}/tenants/acme").json()["count"] == 0
    assert acme.delete(f"{URL}/{q['id']}").status_code == 404


@pytest.mark.parametrize(
    "used, status, remaining, percent",
    [
        ("0", "ok", "100", "0"),
        ("79.99", "ok", "20.01", "79.99"),
        ("80", "warning", "20", "80"),
        ("99.999", "warning", "0.001", "100"),
        ("100", "exceeded", "0", "100"),
        ("130", "exceeded", "0", "130"),
    ],
)
def test_check_status_boundaries(api, tenant, catalog, used, status, remaining, percent):
    acme = api("tenant", "acme")
    q = create(acme, warn_at_percent="80").json()
    if Decimal(used):
        ingest("acme", [{"metric": "api_calls", "quantity": used, "timestamp": timezone.now() - timedelta(seconds=5)}])
    result = check(acme)["results"][0]
    assert result["quota_id"] == q["id"] and result["metric"] == "api_calls" and result["limit"] == "100"
    assert (result["used"], result["remaining"], result["utilization_percent"], result["status"]) == (
        used,
        remaining,
        percent,
        status,
    )
    assert result["enforcement"] == "soft"


def test_check_windows_day_month_and_metric_filter(api, tenant, catalog):
    acme = api("tenant", "acme")
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = today.replace(day=1)
    create(acme, period="day", limit="10")
    create(acme, period="month", limit="10")
    create(acme, metric="jobs", limit="3")
    events = [
        {"metric": "api_calls", "quantity": "2", "timestamp": now - timedelta(seconds=10)},
        {"metric": "jobs", "timestamp": now - timedelta(seconds=10)},
    ]
    if today > month:  # yesterday is in this month
        events.append({"metric": "api_calls", "quantity": "5", "timestamp": today - timedelta(minutes=1)})
    events.append({"metric": "api_calls", "quantity": "100", "timestamp": month - timedelta(minutes=1)})
    ingest("acme", events)
    body = check(acme, metric="api_calls")
    assert body["tenant_id"] == "acme"
    by_period = {(r["period_start"], r["period_end"]): r for r in body["results"]}
    day = by_period[(today.strftime("%Y-%m-%dT%H:%M:%SZ"), (today + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    assert day["used"] == "2" and day["status"] == "ok"
    month_row = next(r for r in body["results"] if r["period_start"] == month.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert month_row["used"] == ("7" if today > month else "2")
    assert [r["metric"] for r in check(acme, metric="jobs")["results"]] == ["jobs"]
    assert len(check(acme)["results"]) == 3
    r = acme.get(f"{URL}/tenants/acme/check?metric=nope")
    assert r.status_code == 400 and error(r)["attr"] == "metric"


def test_billing_period_follows_the_subscription_else_the_calendar_month(api, tenant, catalog):
    acme = api("tenant", "acme")
    create(acme, period="billing_period", limit="1000")
    now = timezone.now()
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    result = check(acme)["results"][0]
    assert result["period_start"] == month.strftime("%Y-%m-%dT%H:%M:%SZ")

    started = now - timedelta(days=40, hours=3)
    sub = subscribe("acme", "starter", started_at=started.replace(microsecond=0))
    ingest(
        "acme",
        [
            {"metric": "api_calls", "quantity": "7", "timestamp": sub.current_period_start + timedelta(seconds=1)},
            {"metric": "api_calls", "quantity": "50", "timestamp": sub.current_period_start - timedelta(seconds=1)},
        ],
    )
    result = check(acme)["results"][0]
    assert result["period_start"] == sub.current_period_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["period_end"] == sub.current_period_end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["used"] == "7"
