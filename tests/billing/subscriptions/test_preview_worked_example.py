"""The worked example: a tenant upgrades mid-month, pauses three days and has graduated usage.

Every figure below is worked out by hand in the comments, to the cent.
"""

from decimal import Decimal

import pytest

from billing.models import CreditGrant, Discount, Subscription, Tenant

from .conftest import BASE, utc

pytestmark = pytest.mark.django_db

MAR = lambda day, hour=0: utc(2026, 3, day, hour)  # noqa: E731


def test_upgrade_pause_and_graduated_usage_preview_to_the_cent(catalog, clock, as_, record):
    finance = as_("finance")
    acme = as_("tenant", "acme")
    Tenant.objects.create(id="acme", name="Acme", tax_rate=Decimal("0.2"))

    # Mar 1 00:00Z: subscribe to Starter ($19.00/month, no trial). March has 31 days.
    clock.set(MAR(1))
    r = acme.post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "starter"}, format="json")
    assert r.status_code == 201, r.json()
    sub_id = r.json()["id"]
    assert r.json()["status"] == "active"
    assert (r.json()["current_period_start"], r.json()["current_period_end"]) == (
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    )

    # Usage on Starter: 8,000 API calls, storage peaking at 4 GB.
    record("acme", "api_calls", 8000, MAR(5, 10))
    record("acme", "storage_gb", 4, MAR(3, 9))

    # Mar 16 00:00Z: upgrade to Pro ($49.00) immediately.
    clock.set(MAR(16))
    r = acme.post(f"{BASE}/subscriptions/{sub_id}/change-plan", {"plan_id": "pro"}, format="json")
    assert r.status_code == 200 and r.json()["plan_id"] == "pro"

    # Usage on Pro: 100,000 + 150,000 API calls (the second batch while paused: still billed),
    # storage peaking at 12 GB, three distinct active users.
    record("acme", "api_calls", 100000, MAR(17, 8))
    record("acme", "storage_gb", 12, MAR(18, 12))
    for i, user in enumerate(["ann", "bob", "cy", "ann"]):
        record("acme", "active_users", 1, MAR(19, i), properties={"user_id": user})

    # Pause Mar 20 00:00Z, resume Mar 23 00:00Z: three days without base price.
    clock.set(MAR(20))
    assert acme.post(f"{BASE}/subscriptions/{sub_id}/pause", {}, format="json").json()["status"] == "paused"
    record("acme", "api_calls", 150000, MAR(21, 15))
    clock.set(MAR(23))
    assert acme.post(f"{BASE}/subscriptions/{sub_id}/resume", {}, format="json").json()["status"] == "active"

    # A 10 % forever discount and $20.00 of credits; tax 20 % (set above).
    Discount.objects.create(subscription_id=sub_id, percent_off=Decimal("10"), duration="forever")
    CreditGrant.objects.create(tenant_id="acme", amount=Decimal("20"), remaining=Decimal("20"), currency="USD")

    # Preview on Mar 26 00:00Z.
    clock.set(MAR(26))
    r = acme.get(f"{BASE}/tenants/acme/billing/preview")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["tenant_id"] == "acme" and body["subscription_id"] == sub_id and body["currency"] == "USD"
    assert (body["period_start"], body["period_end"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
    lines = body["lines"]
    starter_seg = ("2026-03-01T00:00:00Z", "2026-03-16T00:00:00Z")
    pro_seg = ("2026-03-16T00:00:00Z", "2026-03-26T00:00:00Z")
    assert [(ln["type"], ln["plan_id"], ln.get("metric"), ln["amount"]) for ln in lines] == [
        # Starter base: 19.00 × 15/31 days = 9.193548… → 9.19
        ("base", "starter", None, "9.19"),
        # Starter API calls: (8,000 − 5,000 free) × 0.0005 = 1.50
        ("usage", "starter", "api_calls", "1.50"),
        # Starter storage: (max 4 GB − 2 free) × 0.15 = 0.30
        ("usage", "starter", "storage_gb", "0.30"),
        # Starter jobs: none → 0.00 (shown so every charge is visible)
        ("usage", "starter", "jobs", "0.00"),
        # Pro base: 49.00 × (10 days − 3 paused)/31 = 49 × 7/31 = 11.064516… → 11.06
        ("base", "pro", None, "11.06"),
        # Pro API calls, tiers from zero again: 10,000 × 0 + 240,000 × 0.0004 = 96.00
        ("usage", "pro", "api_calls", "96.00"),
        # Pro storage: (max 12 GB − 5 free) × 0.10 = 0.70 (the 4 GB on Starter does not count here)
        ("usage", "pro", "storage_gb", "0.70"),
        # Pro active users: 3 distinct (ann, bob, cy) × 2.00 (volume tier up to 100) = 6.00
        ("usage", "pro", "active_users", "6.00"),
        ("usage", "pro", "jobs", "0.00"),
    ]
    base_starter, calls_starter, *_ = lines
    assert base_starter == {
        "type": "base",
        "description": "Starter — base price (prorated 48.4%)",
        "plan_id": "starter",
        "quantity": "0.483870967742",
        "unit_price": "19.00",
        "amount": "9.19",
        "period_start": starter_seg[0],
        "period_end": starter_seg[1],
    }
    assert (calls_starter["quantity"], calls_starter["unit_price"]) == ("8000", "0.0005")
    assert "tiers" not in calls_starter
    base_pro, calls_pro = lines[4], lines[5]
    assert base_pro["description"] == "Pro — base price (prorated 22.6%)"
    assert (base_pro["period_start"], base_pro["period_end"]) == pro_seg
    assert calls_pro["quantity"] == "250000" and "unit_price" not in calls_pro
    assert calls_pro["tiers"] == [
        {"quantity": "10000", "unit_price": "0.00", "amount": "0.00"},
        {"quantity": "240000", "unit_price": "0.0004", "amount": "96.00"},
    ]
    assert (calls_pro["period_start"], calls_pro["period_end"]) == pro_seg
    # subtotal = 9.19 + 1.50 + 0.30 + 0 + 11.06 + 96.00 + 0.70 + 6.00 + 0 = 124.75
    # discount = 124.75 × 10 % = 12.475 → 12.48 (half up)
    # tax      = (124.75 − 12.48) × 0.2 = 112.27 × 0.2 = 22.454 → 22.45
    # total    = 112.27 + 22.45 = 134.72
    # credits  = min(20.00, 134.72) = 20.00; amount due = 134.72 − 20.00 = 114.72
    assert {k: body[k] for k in ("subtotal", "discount", "tax", "total", "credits_applied", "amount_due")} == {
        "subtotal": "124.75",
        "discount": "12.48",
        "tax": "22.45",
        "total": "134.72",
        "credits_applied": "20.00",
        "amount_due": "114.72",
    }
    # Nothing was stored by the preview, and finance sees the same figures.
    assert finance.get(f"{BASE}/tenants/acme/billing/preview").json() == body
    assert CreditGrant.objects.get(tenant_id="acme").remaining == Decimal("20")
    assert Subscription.objects.get(pk=sub_id).status == "active"
