"""Alerts: configuration, evaluation as usage arrives (once per period), signed webhooks, dismiss, re-arm."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.models import Tenant
from costcenters.services.cost_centers import cost_center_create
from realtime.models import Alert, AlertDelivery
from realtime.services import alerts as alert_services
from realtime.services.alerts import alerts_evaluate, alerts_schedule_evaluation
from tests.conftest import make_client
from tests.realtime.helpers import BASE, ingest, subscribe


def alerts_url(tenant_id="acme"):
    return f"{BASE}/realtime-cost/tenants/{tenant_id}/alerts"


def error(response):
    return response.json()["errors"][0]


class Receiver:
    """A real local HTTP endpoint recording each POST; answers the given statuses in turn, then 200."""

    def __init__(self, statuses=()):
        self.requests: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/billing"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def verify_signature(headers: dict, body: bytes) -> dict:
    """Return the parsed body after checking X-Billing-Signature the way a receiver would."""
    parts = dict(item.split("=", 1) for item in headers["X-Billing-Signature"].split(","))
    expected = hmac.new(
        settings.ALERT_WEBHOOK_SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert abs(int(parts["t"]) - timezone.now().timestamp()) < 60
    return json.loads(body)


@pytest.fixture
def acme_sub(tenant, catalog):
    return subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_each_type(api, acme_sub):
    acme = api("tenant", "acme")
    cost_center_create(tenant_id="acme", code="eng", name="Eng", budget=Decimal("100"))
    r = acme.post(
        alerts_url(), {"type": "cost_threshold", "threshold": "500", "webhook_url": "https://h.test/x"}, format="json"
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["tenant_id"], body["type"], body["threshold"], body["status"]) == (
        "acme",
        "cost_threshold",
        "500",
        "armed",
    )
    assert body["metric"] is None and body["cost_center"] is None and body["triggered_at"] is None
    assert body["value_at_trigger"] is None and body["webhook_url"] == "https://h.test/x"
    assert body["created_at"].endswith("Z")
    r = acme.post(alerts_url(), {"type": "usage_threshold", "threshold": "1000", "metric": "api_calls"}, format="json")
    assert r.status_code == 201 and r.json()["metric"] == "api_calls" and r.json()["webhook_url"] is None
    r = acme.post(alerts_url(), {"type": "budget_percent", "threshold": "80", "cost_center": "eng"}, format="json")
    assert r.status_code == 201 and r.json()["cost_center"] == "eng"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, attr",
    [
        ({"type": "nope", "threshold": "1"}, "type"),
        ({"type": "cost_threshold"}, "threshold"),
        ({"type": "cost_threshold", "threshold": "-1"}, "threshold"),
        ({"type": "cost_threshold", "threshold": "1", "webhook_url": "not a url"}, "webhook_url"),
        ({"type": "usage_threshold", "threshold": "1"}, "metric"),
        ({"type": "usage_threshold", "threshold": "1", "metric": "nope"}, "metric"),
        ({"type": "cost_threshold", "threshold": "1", "metric": "api_calls"}, "metric"),
        ({"type": "budget_percent", "threshold": "80"}, "cost_center"),
        ({"type": "budget_percent", "threshold": "80", "cost_center": "nope"}, "cost_center"),
        ({"type": "budget_percent", "threshold": "80", "cost_center": "nobudget"}, "cost_center"),
        ({"type": "budget_percent", "threshold": "80", "cost_center": "theirs"}, "cost_center"),
    ],
)
def test_invalid_alerts_are_400_naming_the_field(api, acme_sub, other_tenant, body, attr):
    cost_center_create(tenant_id="acme", code="nobudget", name="No budget")
    cost_center_create(tenant_id="globex", code="theirs", name="Theirs", budget=Decimal("10"))
    r = api("tenant", "acme").post(alerts_url(), body, format="json")
    assert r.status_code == 400, r.content
    assert error(r)["attr"] == attr
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_list_filter_roles_and_dismiss(api, finance, service, acme_sub, other_tenant):
    acme = api("tenant", "acme")
    a = acme.post(alerts_url(), {"type": "cost_threshold", "threshold": "1000"}, format="json").json()
    b = acme.post(alerts_url(), {"type": "cost_threshold", "threshold": "2000"}, format="json").json()
    assert acme.get(alerts_url()).json()["count"] == 2
    assert api("tenant", "globex").get(alerts_url()).status_code == 403
    assert (
        api("tenant", "globex")
        .post(alerts_url(), {"type": "cost_threshold", "threshold": "1"}, format="json")
        .status_code
        == 403
    )
    assert service.post(alerts_url(), {"type": "cost_threshold", "threshold": "1"}, format="json").status_code == 403
    dismiss = f"{BASE}/realtime-cost/alerts/{a['id']}/dismiss"
    assert api("tenant", "globex").post(dismiss).status_code == 404
    assert service.post(dismiss).status_code == 403
    r = acme.post(dismiss)
    assert r.status_code == 200 and r.json()["status"] == "dismissed" and r.json()["id"] == a["id"]
    assert acme.post(dismiss).json()["status"] == "dismissed"  # idempotent
    assert [x["id"] for x in acme.get(alerts_url() + "?status=dismissed").json()["results"]] == [a["id"]]
    assert [x["id"] for x in finance.get(alerts_url() + "?status=armed").json()["results"]] == [b["id"]]
    assert acme.get(alerts_url() + "?status=bogus").status_code == 400
    assert acme.post(f"{BASE}/realtime-cost/alerts/00000000-0000-0000-0000-000000000000/dismiss").status_code == 404


# --- evaluation ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_burst_crossing_the_threshold_fires_once_with_a_signed_webhook(catalog, receiver):
    Tenant.objects.create(id="acme")
    subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
    service = make_client("service")
    acme = make_client("tenant", "acme")
    alert = acme.post(
        alerts_url(),
        {"type": "usage_threshold", "threshold": "1000", "metric": "api_calls", "webhook_url": receiver.url},
        format="json",
    ).json()
    usage = f"{BASE}/tenants/acme/usage"
    for i in range(4):  # 800 calls: below the threshold
        assert (
            service.post(
                usage, {"event_id": f"s{i}", "metric": "api_calls", "quantity": "200"}, format="json"
            ).status_code
            == 201
        )
    assert Alert.objects.get(pk=alert["id"]).status == "armed" and not receiver.requests
    batch = [{"event_id": f"b{i}", "metric": "api_calls", "quantity": "100"} for i in range(10)]
    assert service.post(f"{usage}/batch", {"events": batch}, format="json").status_code == 200  # 1800
    for i in range(5):  # the burst goes on past the threshold
        service.post(usage, {"event_id": f"t{i}", "metric": "api_calls", "quantity": "100"}, format="json")
    row = Alert.objects.get(pk=alert["id"])
    assert row.status == "triggered" and row.value_at_trigger == Decimal(1800) and row.triggered_at is not None
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/json"
    notice = verify_signature(headers, body)
    assert notice["type"] == "alert.triggered"
    assert notice["alert"]["id"] == alert["id"] and notice["alert"]["value_at_trigger"] == "1800"
    assert notice["alert"]["status"] == "triggered" and notice["alert"]["metric"] == "api_calls"
    delivery = AlertDelivery.objects.get(alert_id=alert["id"])
    assert delivery.attempts == 1 and delivery.last_status == 200 and delivery.delivered_at is not None
    listed = acme.get(alerts_url() + "?status=triggered").json()["results"]
    assert [(a["id"], a["value_at_trigger"]) for a in listed] == [(alert["id"], "1800")]


@pytest.mark.django_db(transaction=True)
def test_webhook_is_retried_until_it_succeeds(catalog):
    receiver = Receiver(statuses=[500, 503])
    try:
        Tenant.objects.create(id="acme")
        subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
        make_client("finance").post(
            alerts_url(), {"type": "cost_threshold", "threshold": "0", "webhook_url": receiver.url}, format="json"
        )
        delivery = AlertDelivery.objects.get()
        assert delivery.attempts == 3 and delivery.last_status == 200 and delivery.delivered_at is not None
        assert len(receiver.requests) == 3
        assert {verify_signature(h, b)["alert"]["type"] for h, b in receiver.requests} == {"cost_threshold"}
    finally:
        receiver.close()


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_webhook_gives_up_without_failing_anything(catalog):
    Tenant.objects.create(id="acme")
    subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
    r = make_client("finance").post(
        alerts_url(),
        {"type": "cost_threshold", "threshold": "0", "webhook_url": "http://127.0.0.1:9/nothing"},
        format="json",
    )
    assert r.status_code == 201
    delivery = AlertDelivery.objects.get()
    assert delivery.delivered_at is None and delivery.attempts == 3 and "ConnectionError" in delivery.last_error
    assert Alert.objects.get().status == "triggered"


@pytest.mark.django_db
def test_evaluations_are_coalesced_per_tenant(acme_sub, monkeypatch):
    from realtime import tasks

    queued = []
    monkeypatch.setattr(
        tasks.alerts_evaluate, "apply_async", lambda **kw: queued.append({k: kw[k] for k in ("kwargs", "countdown")})
    )
    alerts_schedule_evaluation(tenant_id="acme")
    assert queued == []  # no alerts: nothing to evaluate
    Alert.objects.create(tenant_id="acme", type="cost_threshold", threshold=Decimal(1))
    for _ in range(50):
        alerts_schedule_evaluation(tenant_id="acme")
    assert queued == [{"kwargs": {"tenant_id": "acme"}, "countdown": 2}]
    alert_services.alerts_evaluation_started(tenant_id="acme")  # the task starts reading
    alerts_schedule_evaluation(tenant_id="acme")
    assert len(queued) == 2
    alert_services.alerts_evaluation_started(tenant_id="acme")


@pytest.mark.django_db
def test_cost_threshold_and_budget_percent(acme_sub, django_capture_on_commit_callbacks):
    center = cost_center_create(tenant_id="acme", code="eng", name="Eng", budget=Decimal("4.00"))
    cost_center_create(tenant_id="acme", code="ops", name="Ops", budget=Decimal("100.00"))
    cost = Alert.objects.create(tenant_id="acme", type="cost_threshold", threshold=Decimal("1000"))
    eng = Alert.objects.create(tenant_id="acme", type="budget_percent", threshold=Decimal("50"), cost_center=center)
    at = timezone.now() - timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        # 9000 calls - 5000 free = 4000 × 0.0005 = 2.00, split eng 6000 : ops 3000 → 1.33 / 0.67.
        ingest(
            "acme",
            [
                {"metric": "api_calls", "quantity": "6000", "cost_center": "eng", "timestamp": at},
                {"metric": "api_calls", "quantity": "3000", "cost_center": "ops", "timestamp": at},
            ],
        )
    eng.refresh_from_db()
    assert eng.status == "armed"  # 1.33 of 4.00 = 33.25 %
    with django_capture_on_commit_callbacks(execute=True):
        ingest("acme", [{"metric": "api_calls", "quantity": "3000", "cost_center": "eng", "timestamp": at}])
    # 12000 - 5000 = 7000 × 0.0005 = 3.50, split 9000 : 3000 → 2.625 / 0.875; the leftover cent of two
    # equal remainders goes to the later part, so eng has 2.62: 65.5 % of 4.00.
    eng.refresh_from_db()
    assert eng.status == "triggered" and eng.value_at_trigger == Decimal("65.5")
    cost.refresh_from_db()
    assert cost.status == "armed"
    cost.threshold = Decimal("1")
    cost.save()
    triggered = alerts_evaluate(tenant_id="acme", now=timezone.now())
    cost.refresh_from_db()
    assert [a.pk for a in triggered] == [cost.pk] and cost.status == "triggered"
    from realtime.selectors.cost import realtime_current

    total = realtime_current(subscription=acme_sub, now=timezone.now()).total
    assert Decimal(1) <= cost.value_at_trigger <= total


@pytest.mark.django_db
def test_dismissed_and_triggered_alerts_rearm_at_the_next_period(api, acme_sub):
    acme = api("tenant", "acme")
    usage = Alert.objects.create(
        tenant_id="acme",
        type="usage_threshold",
        metric_id="jobs",
        threshold=Decimal(2),
        period_start=acme_sub.current_period_start,
    )
    other = Alert.objects.create(
        tenant_id="acme",
        type="usage_threshold",
        metric_id="jobs",
        threshold=Decimal(2),
        period_start=acme_sub.current_period_start,
    )
    at = timezone.now() - timedelta(minutes=5)
    ingest("acme", [{"metric": "jobs", "timestamp": at}, {"metric": "jobs", "timestamp": at}])
    assert {a.pk for a in alerts_evaluate(tenant_id="acme", now=timezone.now())} == {usage.pk, other.pk}
    acme.post(f"{BASE}/realtime-cost/alerts/{other.pk}/dismiss")
    ingest("acme", [{"metric": "jobs", "timestamp": at}])
    assert alerts_evaluate(tenant_id="acme", now=timezone.now()) == []  # once per period, dismissed stays so
    usage.refresh_from_db(), other.refresh_from_db()
    assert (usage.status, other.status) == ("triggered", "dismissed")

    # The next period begins: both re-arm; they fire again once its usage crosses the threshold.
    old_end = acme_sub.current_period_end
    acme_sub.current_period_start, acme_sub.current_period_end = old_end, old_end + timedelta(days=30)
    acme_sub.save()
    later = old_end + timedelta(hours=1)
    assert alerts_evaluate(tenant_id="acme", now=later) == []
    usage.refresh_from_db(), other.refresh_from_db()
    assert (usage.status, other.status) == ("armed", "armed")
    assert usage.period_start == old_end and usage.triggered_at is None and usage.value_at_trigger is None
    ingest("acme", [{"metric": "jobs", "timestamp": old_end + timedelta(minutes=1)} for _ in range(2)], now=later)
    assert {a.pk for a in alerts_evaluate(tenant_id="acme", now=later)} == {usage.pk, other.pk}


@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluations_trigger_an_alert_once(catalog, receiver):
    Tenant.objects.create(id="acme")
    subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))
    alert = Alert.objects.create(
        tenant_id="acme", type="cost_threshold", threshold=Decimal("0"), webhook_url=receiver.url, period_start=None
    )
    barrier = threading.Barrier(4)
    fired: list[int] = []

    def evaluate():
        try:
            barrier.wait(timeout=10)
            fired.append(len(alerts_evaluate(tenant_id="acme", now=timezone.now())))
        finally:
            connection.close()

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(fired) == [0, 0, 0, 1]
    assert Alert.objects.get(pk=alert.pk).status == "triggered"
    assert AlertDelivery.objects.filter(alert=alert).count() == 1 and len(receiver.requests) == 1


def test_periodic_reevaluation_is_scheduled():
    schedule = settings.CELERY_BEAT_SCHEDULE["realtime-evaluate-alerts"]
    assert schedule["task"] == "realtime.tasks.alerts_evaluate_all"


@pytest.mark.django_db
def test_a_failed_attempt_asks_the_worker_to_retry_until_the_last_one(acme_sub):
    from realtime import tasks

    receiver = Receiver(statuses=[500, 500])
    try:
        alert = Alert.objects.create(
            tenant_id="acme", type="cost_threshold", threshold=Decimal(0), webhook_url=receiver.url, status="triggered"
        )
        delivery = AlertDelivery.objects.create(alert=alert, payload={"type": "alert.triggered"})
        with pytest.raises(alert_services.DeliveryFailed):
            alert_services.alert_delivery_send(delivery_id=delivery.pk, final_attempt=False)
        last = alert_services.alert_delivery_send(delivery_id=delivery.pk, final_attempt=True)  # records, no raise
        assert (last.attempts, last.last_status, last.delivered_at) == (2, 500, None)
        ok = alert_services.alert_delivery_send(delivery_id=delivery.pk, final_attempt=False)
        assert ok.attempts == 3 and ok.last_status == 200 and ok.delivered_at is not None
        assert alert_services.alert_delivery_send(delivery_id=delivery.pk, final_attempt=False).attempts == 3
        assert len(receiver.requests) == 3
    finally:
        receiver.close()
    task = tasks.alert_delivery_send
    assert alert_services.DeliveryFailed in task.autoretry_for and task.max_retries == 6 and task.retry_backoff


@pytest.mark.django_db
def test_the_periodic_task_queues_one_evaluation_per_tenant_with_alerts(acme_sub, other_tenant, monkeypatch):
    from realtime import tasks

    queued = []
    monkeypatch.setattr(tasks.alerts_evaluate, "apply_async", lambda **kw: queued.append(kw["kwargs"]["tenant_id"]))
    for tenant_id in ("acme", "acme", "globex"):
        Alert.objects.create(tenant_id=tenant_id, type="cost_threshold", threshold=Decimal(1))
    assert tasks.alerts_evaluate_all() == 2
    assert sorted(queued) == ["acme", "globex"]
    alert_services.alerts_evaluation_started(tenant_id="acme")
    alert_services.alerts_evaluation_started(tenant_id="globex")


@pytest.mark.django_db
def test_the_periodic_task_queues_again_the_deliveries_a_broker_outage_left_unsent(acme_sub, monkeypatch):
    """Issue 12, defect 4: a delivery that could not be queued is late, not lost."""
    from realtime import tasks

    queued = []
    monkeypatch.setattr(tasks.alert_delivery_send, "apply_async", lambda **kw: queued.append(kw["args"][0]))
    alert = Alert.objects.create(
        tenant_id="acme", type="cost_threshold", threshold=Decimal(1), webhook_url="http://127.0.0.1:9/hook"
    )
    lost = AlertDelivery.objects.create(alert=alert, payload={"id": "lost"})
    fresh = AlertDelivery.objects.create(alert=alert, payload={"id": "fresh"})  # may still be in the broker
    tried = AlertDelivery.objects.create(alert=alert, payload={"id": "tried"}, attempts=1)  # its task retries
    old = timezone.now() - timedelta(minutes=11)
    AlertDelivery.objects.filter(pk__in=[lost.pk, tried.pk]).update(created_at=old)
    monkeypatch.setattr(tasks.alerts_evaluate, "apply_async", lambda **kw: None)
    tasks.alerts_evaluate_all()
    assert queued == [lost.pk]
    assert fresh.pk not in queued
    alert_services.alerts_evaluation_started(tenant_id="acme")
