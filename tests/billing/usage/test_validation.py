"""Validation: each bad event named by index, nothing of a bad batch stored, single events by field."""

from datetime import timedelta
from decimal import Decimal

import pytest
from rest_framework.exceptions import ValidationError

from billing.models import Invoice, UsageEvent, UsageHourly
from billing.services.usage import usage_ingest

from .conftest import BASE, at, iso

pytestmark = pytest.mark.django_db


def errors_of(resp):
    assert resp.status_code == 400, resp.content
    return {(e["attr"], e["code"]) for e in resp.json()["errors"]}


def test_bad_batch_names_each_bad_event_and_stores_nothing(catalog, post_batch):
    events = [
        {"event_id": "ok-0", "metric": "api_calls", "quantity": 1},
        {"event_id": "bad-1", "metric": "nope"},
        {"event_id": "ok-2", "metric": "jobs"},
        {"event_id": "bad-3", "metric": "api_calls", "quantity": -1},
        {"metric": "api_calls"},
    ]
    r = post_batch("acme", events)
    assert errors_of(r) == {
        ("events.1.metric", "unknown_metric"),
        ("events.3.quantity", "min_value"),
        ("events.4.event_id", "required"),
    }
    assert r.json()["type"] == "validation_error"
    assert UsageEvent.objects.count() == 0
    assert UsageHourly.objects.count() == 0


@pytest.mark.parametrize(
    "quantity, code",
    [
        (-0.5, "min_value"),
        ("abc", "invalid_quantity"),
        (True, "invalid_quantity"),
        ({"a": 1}, "invalid_quantity"),
        ("NaN", "invalid_quantity"),
        ("1.0000000000001", "max_decimal_places"),
        ("1e20", "max_value"),
        ("1000000000000001", "max_value"),
        (10**16, "max_value"),
        ("1.5e-13", "max_decimal_places"),
        (0.1234567890123456, "max_decimal_places"),
        # the checks run in a fixed order: sign and size before places, whatever the value's form
        ("-1.0000000000001", "min_value"),
        (-0.1234567890123456, "min_value"),
        ("1000000000000001.0000000000001", "max_value"),
        (" 1", "invalid_quantity"),
        ("x" * 65, "max_value"),
        (None, "null"),
    ],
)
def test_bad_quantities(catalog, post_batch, quantity, code):
    r = post_batch("acme", [{"event_id": "e", "metric": "api_calls", "quantity": quantity}])
    assert errors_of(r) == {("events.0.quantity", code)}


def test_quantity_with_twelve_places_and_trailing_zeros_is_fine(catalog, post_batch):
    r = post_batch(
        "acme",
        [
            {"event_id": "a", "metric": "api_calls", "quantity": "0.000000000001"},
            {"event_id": "b", "metric": "api_calls", "quantity": "2.50000000000000"},
            {"event_id": "c", "metric": "api_calls", "quantity": "2.5e-11"},
            {"event_id": "d", "metric": "api_calls", "quantity": "1.20000000000000E+3"},
            {"event_id": "e", "metric": "api_calls", "quantity": 0.1},
            {"event_id": "f", "metric": "api_calls", "quantity": 7},
            {"event_id": "g", "metric": "api_calls"},
        ],
    )
    assert r.json() == {"accepted": 7, "duplicates": 0}
    stored = dict(UsageEvent.objects.values_list("event_id", "quantity"))
    assert stored == {
        "a": Decimal("0.000000000001"),
        "b": Decimal("2.5"),
        "c": Decimal("0.000000000025"),
        "d": Decimal("1200"),
        "e": Decimal("0.1"),
        "f": Decimal("7"),
        "g": Decimal("1"),
    }


def test_future_timestamps(catalog, post_batch, now):
    ok = post_batch("acme", [{"event_id": "f4", "metric": "jobs", "timestamp": iso(now + timedelta(minutes=4))}])
    assert ok.json() == {"accepted": 1, "duplicates": 0}
    late = post_batch(
        "acme",
        [
            {"event_id": "f5", "metric": "jobs"},
            {"event_id": "f6", "metric": "jobs", "timestamp": iso(now + timedelta(minutes=6))},
        ],
    )
    assert errors_of(late) == {("events.1.timestamp", "future_timestamp")}
    assert not UsageEvent.objects.filter(event_id="f5").exists()


def test_bad_timestamp_and_date_form(catalog, post_batch, month_start):
    assert errors_of(post_batch("acme", [{"event_id": "t", "metric": "jobs", "timestamp": "yesterday"}])) == {
        ("events.0.timestamp", "invalid_datetime")
    }
    r = post_batch("acme", [{"event_id": "d", "metric": "jobs", "timestamp": month_start.date().isoformat()}])
    assert r.status_code == 200
    assert UsageEvent.objects.get(event_id="d").timestamp == month_start


def test_period_closed_by_a_finalized_invoice(catalog, tenant, post_batch, service, month_start):
    prev_start = (month_start - timedelta(days=1)).replace(day=1)
    Invoice.objects.create(
        tenant=tenant, status="open", currency="USD", period_start=prev_start, period_end=month_start
    )
    r = post_batch(
        "acme",
        [
            {"event_id": "in", "metric": "jobs", "timestamp": iso(month_start - timedelta(seconds=1))},
            {"event_id": "edge", "metric": "jobs", "timestamp": iso(month_start)},
            {"event_id": "start", "metric": "jobs", "timestamp": iso(prev_start)},
        ],
    )
    assert errors_of(r) == {("events.0.timestamp", "period_closed"), ("events.2.timestamp", "period_closed")}
    single = service.post(
        f"{BASE}/acme/usage",
        {"event_id": "s", "metric": "jobs", "timestamp": iso(prev_start + timedelta(days=3))},
        format="json",
    )
    assert errors_of(single) == {("timestamp", "period_closed")}
    # the period end is open: the first instant after it is accepted
    assert (
        post_batch("acme", [{"event_id": "edge", "metric": "jobs", "timestamp": iso(month_start)}]).status_code == 200
    )


@pytest.mark.parametrize("status, closed", [("draft", False), ("void", False), ("paid", True), ("uncollectible", True)])
def test_only_finalized_invoices_close_a_period(catalog, tenant, post_batch, month_start, status, closed):
    prev_start = (month_start - timedelta(days=1)).replace(day=1)
    Invoice.objects.create(
        tenant=tenant, status=status, currency="USD", period_start=prev_start, period_end=month_start
    )
    r = post_batch("acme", [{"event_id": "p", "metric": "jobs", "timestamp": iso(prev_start + timedelta(days=2))}])
    assert (r.status_code == 400) is closed


def test_another_tenants_invoice_does_not_close_our_period(catalog, other_tenant, post_batch, month_start):
    prev_start = (month_start - timedelta(days=1)).replace(day=1)
    Invoice.objects.create(
        tenant=other_tenant, status="paid", currency="USD", period_start=prev_start, period_end=month_start
    )
    assert post_batch("acme", [{"event_id": "p", "metric": "jobs", "timestamp": iso(prev_start)}]).status_code == 200


def test_cost_center_must_be_a_live_code_of_this_tenant(catalog, tenant, other_tenant, post_batch):
    from django.utils import timezone

    from costcenters.models import CostCenter

    CostCenter.objects.create(tenant=tenant, code="eng", name="Engineering")
    CostCenter.objects.create(tenant=tenant, code="old", name="Old", deleted_at=timezone.now())
    CostCenter.objects.create(tenant=other_tenant, code="ops", name="Ops")
    r = post_batch(
        "acme",
        [
            {"event_id": "c0", "metric": "jobs", "cost_center": "eng"},
            {"event_id": "c1", "metric": "jobs", "cost_center": "old"},
            {"event_id": "c2", "metric": "jobs", "cost_center": "ops"},
            {"event_id": "c3", "metric": "jobs", "cost_center": "nope"},
        ],
    )
    assert errors_of(r) == {
        ("events.1.cost_center", "unknown_cost_center"),
        ("events.2.cost_center", "unknown_cost_center"),
        ("events.3.cost_center", "unknown_cost_center"),
    }
    assert post_batch("acme", [{"event_id": "c0", "metric": "jobs", "cost_center": "eng"}]).json()["accepted"] == 1
    assert UsageEvent.objects.get(event_id="c0").cost_center == "eng"


def test_properties_are_bounded_in_bytes_and_refuse_nul(catalog, tenant):
    # 2,100 two-byte characters: under 4,096 characters, over 4,096 bytes
    wide = {"w": "é" * 2100}
    with pytest.raises(ValidationError) as bad:
        usage_ingest(
            tenant_id=tenant.id,
            events=[
                {"event_id": "w", "metric": "jobs", "properties": wide},
                {"event_id": "n", "metric": "jobs", "properties": {"a": "x\x00y"}},
                {"event_id": "ok", "metric": "jobs", "properties": {"a": "é" * 2000}},
            ],
        )
    codes = {attr: [d.code for d in details] for attr, details in bad.value.detail.items()}
    assert codes == {"events.0.properties": ["too_large"], "events.1.properties": ["invalid"]}
    assert UsageEvent.objects.count() == 0


def test_sizes_of_ids_and_properties(catalog, post_batch):
    big = {"blob": "x" * 4100}
    just_fits = {"b": "x" * (4096 - len('{"b":""}'))}
    r = post_batch(
        "acme",
        [
            {"event_id": "e" * 129, "metric": "jobs"},
            {"event_id": "ok", "metric": "jobs", "resource_id": "r" * 129},
            {"event_id": "ok2", "metric": "jobs", "properties": big},
            {"event_id": "ok3", "metric": "jobs", "properties": ["not", "an", "object"]},
            {"event_id": 12, "metric": "jobs"},
            "not an object",
        ],
    )
    assert errors_of(r) == {
        ("events.0.event_id", "max_length"),
        ("events.1.resource_id", "max_length"),
        ("events.2.properties", "too_large"),
        ("events.3.properties", "invalid"),
        ("events.4.event_id", "invalid"),
        ("events.5", "invalid"),
    }
    fine = post_batch(
        "acme", [{"event_id": "e" * 128, "metric": "jobs", "resource_id": "r" * 128, "properties": just_fits}]
    )
    assert fine.json() == {"accepted": 1, "duplicates": 0}


def test_batch_size_limits_and_shape(catalog, service, post_batch):
    assert errors_of(post_batch("acme", [])) == {("events", "invalid_batch_size")}
    too_many = [{"event_id": f"e{i}", "metric": "jobs"} for i in range(1001)]
    assert errors_of(post_batch("acme", too_many)) == {("events", "invalid_batch_size")}
    assert post_batch("acme", too_many[:1000]).json() == {"accepted": 1000, "duplicates": 0}
    r = service.post(f"{BASE}/acme/usage/batch", {"nope": []}, format="json")
    assert errors_of(r) == {("events", "invalid")}
    r = service.post(f"{BASE}/acme/usage/batch", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "parse_error"


def test_single_event_errors_use_plain_field_names(catalog, service, now):
    r = service.post(
        f"{BASE}/acme/usage",
        {"metric": "nope", "quantity": "x", "timestamp": iso(now + timedelta(hours=1))},
        format="json",
    )
    assert errors_of(r) == {
        ("event_id", "required"),
        ("metric", "unknown_metric"),
        ("quantity", "invalid_quantity"),
        ("timestamp", "future_timestamp"),
    }
    r = service.post(f"{BASE}/acme/usage", [1, 2], format="json")
    assert r.status_code == 400
    assert UsageEvent.objects.count() == 0


def test_invalid_tenant_id_in_path(catalog, service):
    r = service.post(f"{BASE}/{'t' * 65}/usage", {"event_id": "a", "metric": "jobs"}, format="json")
    assert errors_of(r) == {("tenant_id", "invalid")}


def test_hourly_overflow_is_a_400_not_a_500(catalog, post_batch, month_start):
    events = [
        {
            "event_id": f"o{i}",
            "metric": "api_calls",
            "quantity": "1000000000000000",
            "timestamp": at(month_start, hours=1),
        }
        for i in range(900)
    ]
    assert post_batch("acme", events).status_code == 200
    r = post_batch(
        "acme",
        [
            {
                "event_id": f"p{i}",
                "metric": "api_calls",
                "quantity": "1000000000000000",
                "timestamp": at(month_start, hours=1),
            }
            for i in range(200)
        ],
    )
    assert errors_of(r) == {("events", "quantity_overflow")}
    assert UsageEvent.objects.count() == 900


def test_a_literal_backslash_u0000_in_properties_is_text_not_a_nul(catalog, post_batch, service):
    """Only a real NUL is refused: the text `\\u0000` after a backslash (JSON `"C:\\\\u0000dir"`) is kept."""
    text = "C:\\u0000dir"  # a backslash, then the six characters u0000 — no NUL character
    r = post_batch("acme", [{"event_id": "lit-1", "metric": "api_calls", "properties": {"path": text}}])
    assert r.status_code == 200, r.content
    one = service.post(
        f"{BASE}/acme/usage", {"event_id": "lit-2", "metric": "api_calls", "properties": {"path": text}}, format="json"
    )
    assert one.status_code == 201, one.content
    stored = sorted(UsageEvent.objects.filter(tenant_id="acme").values_list("event_id", "properties"))
    assert stored == [("lit-1", {"path": text}), ("lit-2", {"path": text})]
    nul = post_batch("acme", [{"event_id": "nul-1", "metric": "api_calls", "properties": {"path": "C:\\\x00dir"}}])
    assert ("events.0.properties.path", "null_characters_not_allowed") in errors_of(nul)
