"""`bill_context` reads in one statement what the ORM reads in nine, and the preview prices the same.

A subscription with every input a bill reads besides usage: two plan spans (an immediate plan change),
a pause, a price override, pending and invoiced one-off charges, an active and an ended discount,
and credit grants (usable, expired, another currency, used up).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import CreditGrant, Discount, OneOffCharge, Subscription
from billing.selectors.bill_context import bill_context
from billing.selectors.calculation import (
    _plans,
    bill_data,
    estimate_bill,
    period_bill,
    preview_bill,
    subscription_history,
)
from billing.selectors.credits import credits_available
from billing.selectors.discounts import discount_for_next_invoice
from billing.selectors.terms import pending_one_offs, subscription_overrides
from tests.billing.subscriptions.conftest import BASE, utc

pytestmark = pytest.mark.django_db


def fields(obj) -> dict:
    """Return every concrete field's value (what a bill could read), and for a charge its metric's."""
    out = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
    if hasattr(obj, "metric_id") and obj._meta.model_name == "charge":
        out["metric"] = fields(obj.metric)
    return out


@pytest.fixture
def sub(catalog, clock, as_, record):
    finance = as_("finance")
    clock.set(utc(2026, 3, 1))
    sub_id = finance.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter"}, format="json").json()["id"]
    record("acme", "api_calls", 1234, utc(2026, 3, 2))
    clock.set(utc(2026, 3, 5))
    assert finance.post(f"{BASE}/subscriptions/{sub_id}/pause", {}, format="json").status_code == 200
    clock.set(utc(2026, 3, 7, 12))
    assert finance.post(f"{BASE}/subscriptions/{sub_id}/resume", {}, format="json").status_code == 200
    clock.set(utc(2026, 3, 10))
    r = finance.post(f"{BASE}/subscriptions/{sub_id}/change-plan", {"plan_id": "pro"}, format="json")
    assert r.status_code == 200, r.json()
    clock.set(utc(2026, 3, 12))
    r = finance.put(
        f"{BASE}/subscriptions/{sub_id}/price-overrides",
        {"base_price": "12.345", "charges": [{"metric": "api_calls", "model": "per_unit", "unit_price": "0.00123"}]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    for description, amount in (("Setup fee", "250.10"), ("Training", "99.99"), ("Old", "5")):
        r = finance.post(
            f"{BASE}/subscriptions/{sub_id}/charges", {"description": description, "amount": amount}, format="json"
        )
        assert r.status_code == 201, r.json()
    OneOffCharge.objects.filter(description="Old").update(status=OneOffCharge.Status.INVOICED)
    Discount.objects.create(subscription_id=sub_id, percent_off=Decimal("10"), duration="forever", active=False)
    Discount.objects.create(
        subscription_id=sub_id,
        percent_off=Decimal("12.5"),
        duration="repeating",
        duration_in_periods=3,
        periods_applied=1,
    )
    now = utc(2026, 3, 20, 8, 30)
    for amount, remaining, currency, expires in (
        ("100.00", "40.25", "USD", None),
        ("50.00", "50.00", "USD", now + timedelta(days=3)),
        ("70.00", "70.00", "USD", now - timedelta(seconds=1)),  # expired
        ("30.00", "30.00", "EUR", None),  # another currency
        ("20.00", "0.00", "USD", None),  # used up
    ):
        CreditGrant.objects.create(
            tenant_id="acme", amount=amount, remaining=remaining, currency=currency, expires_at=expires
        )
    clock.set(now)
    return Subscription.objects.select_related("tenant").get(pk=sub_id)


def test_the_one_statement_reads_what_the_orm_reads(sub, clock):
    now = clock.now()
    with CaptureQueriesContext(connection) as queries:
        context = bill_context(subscription=sub, at=now)
    assert len(queries) == 1
    fresh = Subscription.objects.get(pk=sub.pk)
    assert context.history == subscription_history(fresh) and len(context.history[0]) == 2
    assert len(context.history[1]) == 1
    orm_plans = _plans({"starter", "pro"})
    assert context.plans.keys() == orm_plans.keys()
    for plan_id, (plan, charges) in orm_plans.items():
        assert fields(context.plans[plan_id][0]) == fields(plan)
        assert [fields(c) for c in context.plans[plan_id][1]] == [fields(c) for c in charges] and charges
    assert fields(context.discount) == fields(discount_for_next_invoice(subscription_id=sub.pk))
    assert context.credits_available == credits_available(tenant_id="acme", currency="USD", at=now) == Decimal("90.25")
    read_spans, read = subscription_overrides(sub)  # attached by bill_context
    orm_spans, orm = subscription_overrides(fresh)
    assert read_spans == orm_spans and [fields(o) for o in read.values()] == [fields(o) for o in orm.values()]
    assert [fields(o) for o in pending_one_offs(sub)] == [fields(o) for o in pending_one_offs(fresh)]
    assert sorted(o.description for o in pending_one_offs(sub)) == ["Setup fee", "Training"]


def test_preview_and_estimate_price_the_same_as_through_the_orm(sub, clock, as_):
    now = clock.now()
    fresh = Subscription.objects.select_related("tenant").get(pk=sub.pk)
    through_orm = period_bill(
        subscription=fresh,
        period_start=fresh.current_period_start,
        period_end=fresh.current_period_end,
        cutoff=now,
        credits_available=credits_available(tenant_id="acme", currency="USD", at=now),
    )
    preview = bill_data(preview_bill(subscription=sub, now=now))
    assert preview == bill_data(through_orm)
    assert any("(negotiated)" in line["description"] for line in preview["lines"])
    assert sorted(ln["amount"] for ln in preview["lines"] if ln["type"] == "one_off") == ["250.10", "99.99"]
    assert preview["discount"] != "0.00" and preview["credits_applied"] == "90.25"
    assert as_("finance").get(f"{BASE}/tenants/acme/billing/preview").json() == preview
    estimate = as_("finance").get(f"{BASE}/tenants/acme/billing/estimate").json()
    assert estimate == bill_data(estimate_bill(subscription=Subscription.objects.get(pk=sub.pk), now=now))


def test_a_subscription_without_history_rows_reads_empty_sets(catalog, clock, as_):
    clock.set(utc(2026, 3, 1))
    sub_id = as_("finance").post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter"}, format="json").json()
    sub = Subscription.objects.get(pk=sub_id["id"])
    context = bill_context(subscription=sub, at=clock.now())
    assert context.discount is None and context.credits_available == Decimal(0)
    assert subscription_overrides(sub) == ([], {}) and pending_one_offs(sub) == []
    assert list(context.plans) == ["starter"]
