"""The events and webhook-endpoints API: filters, cursors, secrets, URL safety, roles, tenant scoping."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Event, WebhookEndpoint
from tests.notifications.helpers import record

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"
URL = "http://127.0.0.1:9/hooks"


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]


def test_events_list_oldest_first_with_type_tenant_time_and_cursor_filters(finance, clock):
    start = clock.set(timezone.now() - timedelta(hours=1))
    first = record("acme")
    clock.set(start + timedelta(minutes=10))
    second = record("globex", type="alert.triggered")
    third = record("acme", type="quota.warning")
    assert ids(finance.get(f"{BASE}/events")) == [str(first.id), str(second.id), str(third.id)]
    assert ids(finance.get(f"{BASE}/events?tenant_id=acme")) == [str(first.id), str(third.id)]
    assert ids(finance.get(f"{BASE}/events?type=quota.warning")) == [str(third.id)]
    assert ids(finance.get(f"{BASE}/events?type=alert.*")) == [str(first.id), str(second.id)]
    assert ids(finance.get(f"{BASE}/events?type=alert")) == [], "a type without .* is exact"
    assert ids(finance.get(f"{BASE}/events?after={first.id}")) == [str(second.id), str(third.id)]
    after = (start + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(finance.get(f"{BASE}/events?created_after={after}")) == [str(second.id), str(third.id)]
    page = finance.get(f"{BASE}/events?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    body = finance.get(f"{BASE}/events/{first.id}").json()
    assert set(body) == {"id", "type", "tenant_id", "created_at", "data"}
    assert body["data"]["object"]["type"] == "cost_threshold"


def test_bad_event_filters_are_400(finance):
    r = finance.get(f"{BASE}/events?after=not-an-id")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid_cursor"
    r = finance.get(f"{BASE}/events?created_after=yesterday")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "created_after"


def test_a_tenant_sees_only_its_own_events(api):
    mine, theirs = record("acme"), record("globex")
    acme = api("tenant", "acme")
    assert ids(acme.get(f"{BASE}/events")) == [str(mine.id)]
    assert acme.get(f"{BASE}/events/{theirs.id}").status_code == 404
    assert acme.get(f"{BASE}/events/{mine.id}").status_code == 200
    assert acme.get(f"{BASE}/events?tenant_id=globex").status_code == 403
    r = acme.get(f"{BASE}/events?after={theirs.id}")
    assert r.status_code == 400, "another tenant's event is not a cursor a tenant may use"


def test_create_shows_the_secret_once_and_rotate_replaces_it(finance):
    r = finance.post(
        f"{BASE}/webhook-endpoints",
        {"url": URL, "tenant_id": "acme", "event_types": ["invoice.*", "quota.exceeded"], "description": "ERP"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) >= 24
    assert body["enabled"] is True and body["tenant_id"] == "acme" and body["description"] == "ERP"
    assert body["event_types"] == ["invoice.*", "quota.exceeded"]
    got = finance.get(f"{BASE}/webhook-endpoints/{body['id']}").json()
    assert "secret" not in got and got["url"] == URL
    assert all("secret" not in row for row in finance.get(f"{BASE}/webhook-endpoints").json()["results"])
    rotated = finance.post(f"{BASE}/webhook-endpoints/{body['id']}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (None, body["secret"])
    assert WebhookEndpoint.objects.get().secret == rotated.json()["secret"]


def test_update_and_delete(finance):
    created = finance.post(f"{BASE}/webhook-endpoints", {"url": URL, "tenant_id": "acme"}, format="json").json()
    assert created["event_types"] == ["*"]
    r = finance.put(
        f"{BASE}/webhook-endpoints/{created['id']}", {"enabled": False, "event_types": ["invoice.paid"]}, format="json"
    )
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["event_types"] == ["invoice.paid"]
    assert r.json()["url"] == URL, "fields left out keep their value"
    r = finance.put(f"{BASE}/webhook-endpoints/{created['id']}", {"tenant_id": "globex"}, format="json")
    assert r.status_code == 400
    assert finance.delete(f"{BASE}/webhook-endpoints/{created['id']}").status_code == 204
    assert finance.get(f"{BASE}/webhook-endpoints/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http://127.0.0.1/hook",
        "http://localhost:8087/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_non_public_urls_are_refused(finance, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    r = finance.post(f"{BASE}/webhook-endpoints", {"url": url, "tenant_id": "acme"}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] in ("webhook_url_not_allowed", "invalid")
    assert WebhookEndpoint.objects.count() == 0


def test_public_ip_urls_are_accepted_and_private_ones_with_the_setting(finance, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    r = finance.post(f"{BASE}/webhook-endpoints", {"url": "https://93.184.215.14/hook"}, format="json")
    assert r.status_code == 201 and r.json()["tenant_id"] is None
    r = finance.post(f"{BASE}/webhook-endpoints", {"url": "http://127.0.0.1:1/x"}, format="json")
    assert r.json()["errors"][0]["code"] == "webhook_url_not_allowed"
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert finance.post(f"{BASE}/webhook-endpoints", {"url": "http://127.0.0.1:1/x"}, format="json").status_code == 201


def test_unknown_event_types_are_400(finance):
    for types in (["invoices.*"], ["invoice.payed"], [], ["*", "nope"]):
        r = finance.post(f"{BASE}/webhook-endpoints", {"url": URL, "event_types": types}, format="json")
        assert r.status_code == 400, types


def test_tenant_endpoints_only_for_itself(api, finance):
    acme = api("tenant", "acme")
    r = acme.post(f"{BASE}/webhook-endpoints", {"url": URL}, format="json")
    assert r.status_code == 201 and r.json()["tenant_id"] == "acme"
    assert acme.post(f"{BASE}/webhook-endpoints", {"url": URL, "tenant_id": "globex"}, format="json").status_code == 403
    assert acme.post(f"{BASE}/webhook-endpoints", {"url": URL, "tenant_id": None}, format="json").status_code == 403
    theirs = finance.post(f"{BASE}/webhook-endpoints", {"url": URL, "tenant_id": "globex"}, format="json").json()
    shared = finance.post(f"{BASE}/webhook-endpoints", {"url": URL, "tenant_id": None}, format="json").json()
    assert ids(acme.get(f"{BASE}/webhook-endpoints")) == [r.json()["id"]]
    assert acme.get(f"{BASE}/webhook-endpoints?tenant_id=globex").status_code == 403
    for endpoint in (theirs, shared):
        for method, path in [
            ("get", ""),
            ("put", ""),
            ("delete", ""),
            ("post", "/rotate-secret"),
            ("get", "/deliveries"),
        ]:
            response = getattr(acme, method)(f"{BASE}/webhook-endpoints/{endpoint['id']}{path}", {}, format="json")
            assert response.status_code == 404, (method, path)
    assert len(ids(finance.get(f"{BASE}/webhook-endpoints"))) == 3
    assert ids(finance.get(f"{BASE}/webhook-endpoints?tenant_id=globex")) == [theirs["id"]]


ENDPOINTS = [
    ("get", "/events"),
    ("get", "/events/{event}"),
    ("post", "/webhook-endpoints"),
    ("get", "/webhook-endpoints"),
    ("get", "/webhook-endpoints/{endpoint}"),
    ("put", "/webhook-endpoints/{endpoint}"),
    ("post", "/webhook-endpoints/{endpoint}/rotate-secret"),
    ("get", "/webhook-endpoints/{endpoint}/deliveries"),
    ("delete", "/webhook-endpoints/{endpoint}"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_role_matrix(api, anon, method, path):
    event = record("acme")
    endpoint = WebhookEndpoint.objects.create(url=URL, tenant_id="acme", event_types=["*"], secret="whsec_eA==")
    url = BASE + path.format(event=event.id, endpoint=endpoint.id)
    body = {"url": URL, "tenant_id": "acme"}
    assert getattr(anon, method)(url, body, format="json").status_code == 401
    assert getattr(api("service"), method)(url, body, format="json").status_code == 403
    ok = {"get": 200, "put": 200, "post": 201 if path == "/webhook-endpoints" else 200, "delete": 204}[method]
    assert getattr(api("tenant", "acme"), method)(url, body, format="json").status_code == ok
    if method != "delete":
        assert getattr(api("finance"), method)(url, body, format="json").status_code == ok
    other = getattr(api("tenant", "globex"), method)(url, {"url": URL}, format="json").status_code
    assert other in ((200, 201) if path in ("/events", "/webhook-endpoints") else (404,))


def test_no_event_for_a_rolled_back_change():
    from django.db import transaction

    from notifications.services.events import event_record
    from tests.notifications.helpers import make_alert

    def failing_service():
        with transaction.atomic():
            alert = make_alert("acme")
            event_record(type="alert.triggered", tenant_id="acme", obj=alert)
            raise RuntimeError("the change fails after writing")

    with pytest.raises(RuntimeError):
        failing_service()
    assert Event.objects.count() == 0


def test_alert_webhook_urls_follow_the_same_rule(finance, settings, tenant):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    url = f"{BASE}/realtime-cost/tenants/acme/alerts"
    body = {"type": "cost_threshold", "threshold": "5", "webhook_url": "http://169.254.169.254/latest"}
    r = finance.post(url, body, format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0] == {
        "code": "webhook_url_not_allowed",
        "detail": r.json()["errors"][0]["detail"],
        "attr": "webhook_url",
    }
    body["webhook_url"] = "https://93.184.215.14/alerts"
    assert finance.post(url, body, format="json").status_code == 201
