"""Which action records which event, in its own transaction, with the object exactly as the API answers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from notifications.models import Event
from tests.billing.invoices.conftest import make_sub
from tests.conftest import utc

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


def events(*types: str) -> list[Event]:
    qs = Event.objects.order_by("seq")
    return list(qs.filter(type__in=types) if types else qs)


def objects(type_: str) -> list[dict]:
    return [e.data["object"] for e in events(type_)]


def test_invoice_lifecycle_records_created_finalized_voided_with_the_api_object(catalog, clock, finance):
    clock.set(utc(2026, 3, 10))
    make_sub("acme", "pro", started_at=utc(2026, 1, 1))
    draft = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json")
    assert draft.status_code == 201
    assert objects("invoice.created") == [draft.json()]
    finalized = finance.post(f"{BASE}/invoices/{draft.json()['id']}/finalize")
    assert objects("invoice.finalized") == [finalized.json()]
    assert finalized.json()["status"] == "open" and finalized.json()["number"]
    voided = finance.post(f"{BASE}/invoices/{draft.json()['id']}/void")
    assert objects("invoice.voided") == [voided.json()]
    assert [e.type for e in events()] == ["invoice.created", "invoice.finalized", "invoice.voided"]
    assert {e.tenant_id for e in events()} == {"acme"}


def test_the_invoice_run_records_created_and_finalized_and_marking_uncollectible(catalog, clock):
    from billing.models import Invoice
    from billing.services.invoices import invoice_mark_uncollectible, invoices_run

    clock.set(utc(2026, 3, 10))
    make_sub("acme", "pro", started_at=utc(2026, 1, 1))
    make_sub("globex", "starter", started_at=utc(2026, 2, 1))
    invoices_run(at=utc(2026, 3, 10), sync=True)
    created, finalized = objects("invoice.created"), objects("invoice.finalized")
    assert len(created) == Invoice.objects.count() == len(finalized) == 3
    assert {o["status"] for o in created} == {"draft"} and {o["status"] for o in finalized} == {"open"}
    invoice = Invoice.objects.filter(tenant_id="globex").get()
    invoice_mark_uncollectible(invoice=invoice)
    assert objects("invoice.marked_uncollectible")[0]["status"] == "uncollectible"


def test_subscription_changes_record_created_updated_and_canceled(catalog, finance):
    created = finance.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter"}, format="json")
    assert created.status_code == 201, created.json()
    sub_id = created.json()["id"]
    assert objects("subscription.created") == [created.json()]
    steps = [
        ("change-plan", {"plan_id": "pro"}),
        ("change-plan", {"plan_id": "starter", "effective": "period_end"}),
        ("pause", {}),
        ("resume", {}),
        ("cancel", {"at_period_end": True}),
        ("reactivate", {}),
    ]
    answers = []
    for action, body in steps:
        r = finance.post(f"{BASE}/subscriptions/{sub_id}/{action}", body, format="json")
        assert r.status_code == 200, (action, r.json())
        answers.append(r.json())
    updated = objects("subscription.updated")
    assert len(updated) == len(steps)
    for got, answer in zip(updated, answers, strict=True):
        assert got | {"credit_balance": None} == answer | {"credit_balance": None}
    assert [u["status"] for u in updated] == ["active", "active", "paused", "active", "active", "active"]
    assert updated[1]["scheduled_plan_id"] == "starter" and updated[4]["cancel_at_period_end"] is True
    ended = finance.post(f"{BASE}/subscriptions/{sub_id}/cancel", {"at_period_end": False}, format="json")
    assert objects("subscription.canceled") == [ended.json()]
    assert ended.json()["status"] == "canceled"


def test_a_discount_is_a_subscription_update(catalog, finance):
    sub_id = finance.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "pro"}, format="json").json()["id"]
    r = finance.post(
        f"{BASE}/subscriptions/{sub_id}/discount", {"percent_off": "10", "duration": "forever"}, format="json"
    )
    assert r.status_code in (200, 201), r.json()
    [updated] = objects("subscription.updated")
    assert updated["discount"]["percent_off"] == r.json()["discount"]["percent_off"]


def ingest(service, tenant: str, n: int, quantity: str):
    body = {
        "events": [{"event_id": f"{tenant}-{n}-{i}", "metric": "api_calls", "quantity": quantity} for i in range(1)]
    }
    r = service.post(f"{BASE}/tenants/{tenant}/usage/batch", body, format="json")
    assert r.status_code in (200, 201, 202), r.json()
    return r


def test_quota_crossings_record_warning_then_exceeded_once_each(catalog, finance, service):
    r = finance.post(
        f"{BASE}/quotas",
        {"tenant_id": "acme", "metric": "api_calls", "limit": "100", "period": "month", "warn_at_percent": "80"},
        format="json",
    )
    assert r.status_code == 201
    ingest(service, "acme", 1, "50")
    assert events() == []
    ingest(service, "acme", 2, "35")
    [warning] = objects("quota.warning")
    check = finance.get(f"{BASE}/quotas/tenants/acme/check").json()["results"][0]
    assert warning == check and warning["status"] == "warning" and warning["used"] == "85"
    ingest(service, "acme", 3, "1")
    assert len(events()) == 1, "a warning is announced once per window"
    ingest(service, "acme", 4, "20")
    [exceeded] = objects("quota.exceeded")
    assert exceeded["status"] == "exceeded" and exceeded["used"] == "106"
    ingest(service, "acme", 5, "5")
    assert [e.type for e in events()] == ["quota.warning", "quota.exceeded"]
    assert {e.tenant_id for e in events()} == {"acme"}


def test_a_refused_hard_quota_ingest_records_nothing(catalog, finance, service):
    finance.post(
        f"{BASE}/quotas",
        {"tenant_id": "acme", "metric": "api_calls", "limit": "10", "enforcement": "hard"},
        format="json",
    )
    r = service.post(
        f"{BASE}/tenants/acme/usage/batch",
        {"events": [{"event_id": "big", "metric": "api_calls", "quantity": "11"}]},
        format="json",
    )
    assert r.status_code == 429
    assert events() == [], "the ingest rolled back, and its event with it"
    ingest(service, "acme", 1, "10")  # reaching the limit exactly is allowed, and is `exceeded`
    assert [e.type for e in events()] == ["quota.exceeded"]


def test_a_triggered_alert_records_alert_triggered(catalog, clock, finance):
    from realtime.services.alerts import alerts_evaluate

    clock.set(utc(2026, 3, 10))
    make_sub("acme", "pro", started_at=utc(2026, 3, 1))
    created = finance.post(
        f"{BASE}/realtime-cost/tenants/acme/alerts", {"type": "cost_threshold", "threshold": "1"}, format="json"
    )
    assert created.status_code == 201
    assert [a.pk for a in alerts_evaluate(tenant_id="acme", now=utc(2026, 3, 10))]
    [alert] = objects("alert.triggered")
    listed = finance.get(f"{BASE}/realtime-cost/tenants/acme/alerts").json()["results"][0]
    assert alert == listed and alert["status"] == "triggered"
    assert Decimal(alert["value_at_trigger"]) >= 1
