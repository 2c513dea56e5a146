"""POST /subscriptions/:id/discount (coupon code or ad hoc) and POST /subscriptions/:id/credits."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CreditGrant, Discount
from coupons.models import Coupon, CouponRedemption

pytestmark = pytest.mark.django_db


def discount_url(sub):
    return f"/api/v1/billing/subscriptions/{sub.id}/discount"


def credits_url(sub):
    return f"/api/v1/billing/subscriptions/{sub.id}/credits"


def err(r):
    return r.json()["errors"][0]


def test_tenant_applies_coupon_code(api, subscribe, make_coupon):
    sub = subscribe("acme")
    c = make_coupon("Hello", percent_off="25", duration="repeating", duration_in_periods=2)
    r = api("tenant", "acme").post(discount_url(sub), {"coupon_code": "HELLO"}, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["id"] == str(sub.id) and body["status"] == "active"
    assert body["discount"]["coupon_code"] == "Hello" and body["discount"]["percent_off"] == "25"
    assert body["discount"]["duration"] == "repeating" and body["discount"]["duration_in_periods"] == 2
    assert body["discount"]["periods_applied"] == 0
    d = Discount.objects.get(subscription=sub, active=True)
    assert d.coupon_id == c.id and d.percent_off == Decimal("25") and d.duration_in_periods == 2
    assert CouponRedemption.objects.get(coupon=c).subscription_id == sub.id
    again = api("tenant", "acme").post(discount_url(sub), {"coupon_code": "hello"}, format="json")
    assert again.status_code == 409 and err(again)["code"] == "already_redeemed"
    missing = api("tenant", "acme").post(discount_url(sub), {"coupon_code": "nope"}, format="json")
    assert missing.status_code == 409 and err(missing)["code"] == "not_found"


def test_finance_ad_hoc_discount_replaces_coupon_discount(finance, subscribe, make_coupon):
    sub = subscribe("acme")
    make_coupon("CPN1", duration="forever")
    assert finance.post(discount_url(sub), {"coupon_code": "cpn1"}, format="json").status_code == 200
    old = Discount.objects.get(active=True)
    r = finance.post(
        discount_url(sub), {"amount_off": "12.5", "duration": "repeating", "duration_in_periods": 3}, format="json"
    )
    assert r.status_code == 200, r.json()
    shown = r.json()["discount"]
    assert shown["amount_off"] == "12.50" and shown["currency"] == "USD" and "coupon_code" not in shown
    old.refresh_from_db()
    assert old.active is False and old.ended_at is not None
    new = Discount.objects.get(subscription=sub, active=True)
    assert new.coupon_id is None and new.amount_off == Decimal("12.50") and new.currency == "USD"
    assert new.duration == "repeating" and new.duration_in_periods == 3
    r = finance.post(discount_url(sub), {"percent_off": "100", "duration": "once"}, format="json")
    assert r.status_code == 200
    assert Discount.objects.get(subscription=sub, active=True).percent_off == Decimal("100")
    assert Discount.objects.filter(subscription=sub).count() == 3


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"percent_off": "10"}, "duration", "required"),
        ({"percent_off": "150", "duration": "once"}, "percent_off", "out_of_range"),
        ({"percent_off": "10", "amount_off": "5", "duration": "once"}, "percent_off", "discount_kind"),
        ({"amount_off": "0.001", "duration": "once"}, "amount_off", "max_decimal_places"),
        ({"amount_off": "0", "duration": "forever"}, "amount_off", "out_of_range"),
        ({"percent_off": "10", "duration": "repeating"}, "duration_in_periods", "required"),
        ({"duration": "forever"}, "percent_off", "discount_kind"),
        ({}, "coupon_code", "required"),
        ({"coupon_code": "X1", "percent_off": "10", "duration": "once"}, "percent_off", "invalid"),
    ],
)
def test_ad_hoc_discount_validation(finance, subscribe, body, attr, code):
    sub = subscribe("acme")
    r = finance.post(discount_url(sub), body, format="json")
    assert r.status_code == 400, r.json()
    assert (err(r)["attr"], err(r)["code"]) == (attr, code)
    assert not Discount.objects.exists()


def test_tenant_may_not_apply_ad_hoc_discount(api, subscribe):
    sub = subscribe("acme")
    r = api("tenant", "acme").post(discount_url(sub), {"percent_off": "100", "duration": "forever"}, format="json")
    assert r.status_code == 403 and err(r)["code"] == "permission_denied"
    assert not Discount.objects.exists()


def test_discount_on_other_tenants_or_unknown_subscription(api, finance, subscribe, make_coupon):
    theirs = subscribe("globex")
    make_coupon("STEAL")
    r = api("tenant", "acme").post(discount_url(theirs), {"coupon_code": "STEAL"}, format="json")
    assert r.status_code == 404
    assert Coupon.objects.get(code="STEAL").times_redeemed == 0
    r = finance.post(f"/api/v1/billing/subscriptions/{uuid.uuid4()}/discount", {"coupon_code": "STEAL"}, format="json")
    assert r.status_code == 404
    assert api("service").post(discount_url(theirs), {"coupon_code": "STEAL"}, format="json").status_code == 403


def test_discount_on_canceled_subscription_is_409(finance, subscribe):
    sub = subscribe("acme", status="canceled")
    r = finance.post(discount_url(sub), {"percent_off": "10", "duration": "once"}, format="json")
    assert r.status_code == 409 and err(r)["code"] == "subscription_canceled"


def test_finance_grants_credits(finance, subscribe):
    sub = subscribe("acme", "pro-eur")
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    r = finance.post(
        credits_url(sub),
        {"amount": "25.5", "reason": "Outage refund", "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        format="json",
    )
    assert r.status_code == 201, r.json()
    g = r.json()
    assert set(g) == {"id", "amount", "remaining", "currency", "reason", "expires_at", "created_at"}
    assert g["amount"] == "25.50" and g["remaining"] == "25.50" and g["currency"] == "EUR"
    assert g["reason"] == "Outage refund" and g["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    grant = CreditGrant.objects.get(pk=g["id"])
    assert grant.tenant_id == "acme" and grant.subscription_id == sub.id and grant.remaining == Decimal("25.50")
    r = finance.post(credits_url(sub), {"amount": "10", "reason": "Goodwill"}, format="json")
    assert r.status_code == 201 and r.json()["expires_at"] is None and r.json()["amount"] == "10.00"
    shown = finance.get("/api/v1/billing/tenants/acme/subscription").json()
    assert shown["credit_balance"] == "35.50"
    # An expired grant (made directly: the API refuses past expiries) is not in the balance.
    CreditGrant.objects.create(
        tenant_id="acme",
        subscription=sub,
        amount=Decimal("99"),
        remaining=Decimal("99"),
        currency="EUR",
        reason="old",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert finance.get("/api/v1/billing/tenants/acme/subscription").json()["credit_balance"] == "35.50"


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"amount": "0", "reason": "x"}, "amount", "out_of_range"),
        ({"amount": "-5", "reason": "x"}, "amount", "out_of_range"),
        ({"amount": "1.005", "reason": "x"}, "amount", "max_decimal_places"),
        ({"amount": "abc", "reason": "x"}, "amount", "invalid"),
        ({"reason": "x"}, "amount", "required"),
        ({"amount": "5"}, "reason", "required"),
        ({"amount": "5", "reason": "x", "expires_at": "2020-01-01"}, "expires_at", "in_past"),
        ({"amount": "5", "reason": "x", "expires_at": "tomorrow"}, "expires_at", "invalid_datetime"),
    ],
)
def test_credit_validation(finance, subscribe, body, attr, code):
    sub = subscribe("acme")
    r = finance.post(credits_url(sub), body, format="json")
    assert r.status_code == 400, r.json()
    assert (err(r)["attr"], err(r)["code"]) == (attr, code)
    assert not CreditGrant.objects.exists()


def test_credits_are_finance_only(api, subscribe):
    sub = subscribe("acme")
    for client in (api("tenant", "acme"), api("service")):
        r = client.post(credits_url(sub), {"amount": "1000", "reason": "free money"}, format="json")
        assert r.status_code == 403 and err(r)["code"] == "permission_denied"
    assert not CreditGrant.objects.exists()


def test_finance_credits_unknown_subscription_is_404(finance, catalog):
    r = finance.post(
        f"/api/v1/billing/subscriptions/{uuid.uuid4()}/credits", {"amount": "5", "reason": "x"}, format="json"
    )
    assert r.status_code == 404 and err(r)["code"] == "not_found"


def test_coupon_code_at_subscription_creation(api, make_coupon, tenant):
    c = make_coupon("NEWBIE", amount_off="10", currency="USD", duration="repeating", duration_in_periods=2)
    r = api("tenant", "acme").post(
        "/api/v1/billing/tenants/acme/subscriptions", {"plan_id": "starter", "coupon_code": "newbie"}, format="json"
    )
    assert r.status_code == 201, r.json()
    body = r.json()
    assert body["discount"]["coupon_code"] == "NEWBIE" and body["discount"]["amount_off"] == "10.00"
    assert CouponRedemption.objects.get(coupon=c).subscription_id == uuid.UUID(body["id"])
    assert Coupon.objects.get(pk=c.pk).times_redeemed == 1
