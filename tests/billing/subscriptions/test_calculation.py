"""Preview during a trial, the estimate's projection, period roll-over, coupons at create, credit balance."""

from decimal import Decimal

import pytest

from billing.models import CreditGrant, Subscription, SubscriptionPlanSpan
from billing.selectors.calculation import period_bill, subscription_segments
from billing.services.subscriptions import subscription_roll_period

from .conftest import BASE, utc

pytestmark = pytest.mark.django_db


def MAR(day, hour=0):
    return utc(2026, 3, day, hour)


def amounts(body):
    return [(line["plan_id"], line.get("metric"), line["quantity"], line["amount"]) for line in body["lines"]]


def test_trial_usage_and_trial_time_are_not_billed(catalog, clock, as_, record):
    acme = as_("tenant", "acme")
    clock.set(MAR(1))
    acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "pro"}, format="json")  # trial until Mar 15
    record("acme", "api_calls", 50000, MAR(5))  # during the trial: free
    record("acme", "api_calls", 30000, MAR(20))
    clock.set(MAR(10))
    during = acme.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert during["lines"][0]["amount"] == "0.00" and during["total"] == "0.00"
    assert during["lines"][0]["description"] == "Pro — base price (trial)"
    assert during["lines"][1]["quantity"] == "0"
    clock.set(MAR(25))
    body = acme.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert amounts(body) == [
        ("pro", None, "0.322580645161", "15.81"),  # 49.00 × 10/31 days after the trial = 15.806 → 15.81
        ("pro", "api_calls", "30000", "8.00"),  # (30,000 − 10,000 free tier) × 0.0004
        ("pro", "storage_gb", "0", "0.00"),
        ("pro", "active_users", "0", "0.00"),
        ("pro", "jobs", "0", "0.00"),
    ]
    assert body["lines"][1]["period_start"] == "2026-03-01T00:00:00Z"
    assert body["total"] == body["amount_due"] == "23.81"


def test_estimate_projects_sum_and_count_but_not_max_or_unique(catalog, clock, as_, record):
    acme = as_("tenant", "acme")
    clock.set(MAR(1))
    acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "pro", "trial_days": 0}, format="json")
    record("acme", "api_calls", 100000, MAR(4))
    record("acme", "storage_gb", 12, MAR(5))
    record("acme", "active_users", 1, MAR(6), properties={"user_id": "ann"})
    record("acme", "active_users", 1, MAR(6, 1), properties={"user_id": "bob"})
    for i in range(40):
        record("acme", "jobs", 1, MAR(7, i % 24))
    clock.set(MAR(11))  # 10 of 31 days elapsed
    r = acme.get(f"{BASE}/tenants/acme/billing/estimate")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["projected"] is True and body["elapsed_fraction"] == "0.322581"
    assert (body["period_start"], body["period_end"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    assert amounts(body) == [
        ("pro", None, "1", "49.00"),  # the whole period's base
        ("pro", "api_calls", "310000", "120.00"),  # 100,000 × 31/10 = 310,000 → 300,000 × 0.0004
        ("pro", "storage_gb", "12", "0.70"),  # max stands: (12 − 5) × 0.10
        ("pro", "active_users", "2", "4.00"),  # unique_count stands: 2 × 2.00
        ("pro", "jobs", "124", "2.00"),  # 40 × 31/10 = 124 jobs → 2 packages of 100 × 1.00
    ]
    assert body["lines"][0]["description"] == "Pro — base price"
    assert body["lines"][1]["period_end"] == "2026-04-01T00:00:00Z"
    # 49.00 + 120.00 + 0.70 + 4.00 + 2.00
    assert body["subtotal"] == body["total"] == "175.70"


def test_estimate_counts_only_the_paused_time_already_known(catalog, clock, as_):
    acme = as_("tenant", "acme")
    clock.set(MAR(1))
    sub_id = acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "pro", "trial_days": 0}, format="json").json()[
        "id"
    ]
    clock.set(MAR(11))
    acme.post(f"{BASE}/subscriptions/{sub_id}/pause", {}, format="json")
    clock.set(MAR(12))
    # Paused since Mar 11 with no resume date: one day known → 49 × 30/31 = 47.419 → 47.42
    assert acme.get(f"{BASE}/tenants/acme/billing/estimate").json()["lines"][0]["amount"] == "47.42"
    acme.post(f"{BASE}/subscriptions/{sub_id}/resume", {}, format="json")
    acme.post(f"{BASE}/subscriptions/{sub_id}/pause", {"resume_at": "2026-03-15"}, format="json")
    # Mar 11–12 plus Mar 12–15 scheduled: 4 days → 49 × 27/31 = 42.677 → 42.68
    assert acme.get(f"{BASE}/tenants/acme/billing/estimate").json()["lines"][0]["amount"] == "42.68"


def test_preview_and_estimate_need_a_live_subscription(catalog, clock, as_):
    acme = as_("tenant", "acme")
    for path in ("preview", "estimate"):
        r = acme.get(f"{BASE}/tenants/acme/billing/{path}")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "no_subscription"


def test_roll_period_applies_everything_due_once_and_leaves_invoiced_through(catalog, clock, as_):
    fin = as_("finance")
    clock.set(MAR(15))
    sub_id = fin.post(
        f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter", "start_date": "2026-01-31"}, format="json"
    ).json()["id"]
    fin.post(f"{BASE}/subscriptions/{sub_id}/change-plan", {"plan_id": "pro", "effective": "period_end"}, format="json")
    # The invoice run rolls at the end of the period [Feb 28, Mar 31).
    sub = subscription_roll_period(subscription_id=sub_id, at=utc(2026, 3, 31))
    assert (sub.plan_id, sub.scheduled_plan_id) == ("pro", None)
    assert (sub.current_period_start, sub.current_period_end) == (utc(2026, 3, 31), utc(2026, 4, 30))
    again = subscription_roll_period(subscription_id=sub_id, at=utc(2026, 3, 31))
    assert (again.plan_id, again.current_period_start) == ("pro", utc(2026, 3, 31))
    # An earlier `at` never moves the period back.
    earlier = subscription_roll_period(subscription_id=sub_id, at=utc(2026, 3, 20))
    assert earlier.current_period_start == utc(2026, 3, 31)
    assert SubscriptionPlanSpan.objects.filter(subscription_id=sub_id).count() == 2
    assert Subscription.objects.get(pk=sub_id).invoiced_through == utc(2026, 1, 31)
    # The ended period still bills Starter alone, the new one Pro alone.
    old = period_bill(subscription=sub, period_start=utc(2026, 2, 28), period_end=utc(2026, 3, 31), cutoff=None)
    assert {line.plan_id for line in old.lines} == {"starter"} and old.lines[0].amount == Decimal("19.00")
    segs = subscription_segments(
        subscription=sub, period_start=utc(2026, 3, 31), period_end=utc(2026, 4, 30), cutoff=None
    )
    assert [(s.plan_id, s.start, s.end) for s in segs] == [("pro", utc(2026, 3, 31), utc(2026, 4, 30))]


def test_credit_balance_in_the_subscription(catalog, clock, as_):
    acme = as_("tenant", "acme")
    clock.set(MAR(1))
    sub_id = acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter"}, format="json").json()["id"]
    CreditGrant.objects.create(tenant_id="acme", amount=Decimal("30"), remaining=Decimal("12.5"), currency="USD")
    CreditGrant.objects.create(
        tenant_id="acme", amount=Decimal("5"), remaining=Decimal("5"), currency="USD", expires_at=MAR(2)
    )
    CreditGrant.objects.create(tenant_id="acme", amount=Decimal("9"), remaining=Decimal("9"), currency="EUR")
    clock.set(MAR(3))
    sub = acme.get(f"{BASE}/tenants/acme/subscription").json()
    assert sub["id"] == sub_id and sub["credit_balance"] == "12.50"


def test_coupon_code_at_create(catalog, clock, as_):
    pytest.importorskip("coupons.services.redemptions")
    from coupons.models import Coupon

    acme = as_("tenant", "acme")
    clock.set(MAR(1))
    Coupon.objects.create(
        code="SAVE10", name="Save 10", percent_off=Decimal("10"), duration="repeating", duration_in_periods=3
    )
    r = acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter", "coupon_code": "NOPE"}, format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["attr"] == "coupon_code" and r.json()["errors"][0]["code"] == "not_found"
    assert not Subscription.objects.exists()  # all or nothing
    r = acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter", "coupon_code": "save10"}, format="json")
    assert r.status_code == 201, r.json()
    discount = r.json()["discount"]
    assert {
        k: discount[k]
        for k in (
            "coupon_code",
            "percent_off",
            "amount_off",
            "duration",
            "duration_in_periods",
            "periods_applied",
            "active",
        )
    } == {
        "coupon_code": "SAVE10",
        "percent_off": "10",
        "amount_off": None,
        "duration": "repeating",
        "duration_in_periods": 3,
        "periods_applied": 0,
        "active": True,
    }
    # The preview applies it: 19.00 × 15/31 = 9.19, less 10 % (0.919 → 0.92) = 8.27.
    clock.set(MAR(16))
    body = acme.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert (body["subtotal"], body["discount"], body["total"]) == ("9.19", "0.92", "8.27")
