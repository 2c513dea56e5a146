"""POST /coupons/validate and /coupons/redeem: every reason in the contract's order, codes in any case,
plan eligibility, currency, expiry, deactivation, one redemption per tenant, roles."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Discount
from coupons.models import Coupon, CouponRedemption
from coupons.services.redemptions import CouponInvalid, coupon_redeem, coupon_validate

from .conftest import days_ago

pytestmark = pytest.mark.django_db

VALIDATE = "/api/v1/billing/coupons/validate"
REDEEM = "/api/v1/billing/coupons/redeem"


def validate(client, **body):
    r = client.post(VALIDATE, body, format="json")
    assert r.status_code == 200, r.json()
    return r.json()


def reason_of(client, **body):
    return validate(client, **body)["reason"]


def test_valid_code_answer_shape(api, subscribe, make_coupon):
    subscribe("acme")
    make_coupon("WELCOME", percent_off="15")
    body = validate(api("tenant", "acme"), code="welcome", tenant_id="acme")
    assert body["valid"] is True and body["reason"] is None
    assert body["coupon"]["code"] == "WELCOME" and body["coupon"]["percent_off"] == "15"


def test_not_found(finance, subscribe):
    subscribe("acme")
    body = validate(finance, code="NOPE", tenant_id="acme")
    assert body == {"valid": False, "reason": "not_found", "coupon": None}


def test_inactive(finance, subscribe, make_coupon):
    subscribe("acme")
    c = make_coupon("OLD")
    finance.post(f"/api/v1/billing/coupons/{c.id}/deactivate")
    body = validate(finance, code="old", tenant_id="acme")
    assert body["valid"] is False and body["reason"] == "inactive" and body["coupon"]["active"] is False


def test_expired_when_redeem_by_passed(finance, subscribe, make_coupon):
    subscribe("acme")
    make_coupon("PAST", redeem_by=days_ago(1))
    make_coupon("FUTURE", redeem_by=timezone.now() + timedelta(days=1))
    assert reason_of(finance, code="PAST", tenant_id="acme") == "expired"
    assert reason_of(finance, code="FUTURE", tenant_id="acme") is None
    # Through the API too: a redeem_by in the past is accepted at create and then expired.
    r = finance.post(
        "/api/v1/billing/coupons", {"code": "GONE", "percent_off": "5", "redeem_by": "2020-01-01"}, format="json"
    )
    assert r.status_code == 201
    assert reason_of(finance, code="gone", tenant_id="acme") == "expired"


def test_max_redemptions_reached(finance, subscribe, make_coupon):
    subscribe("acme")
    subscribe("globex")
    make_coupon("ONLYONE", max_redemptions=1)
    assert finance.post(REDEEM, {"code": "ONLYONE", "tenant_id": "globex"}, format="json").status_code == 201
    assert reason_of(finance, code="ONLYONE", tenant_id="acme") == "max_redemptions_reached"
    assert Coupon.objects.get(code="ONLYONE").times_redeemed == 1


def test_already_redeemed(finance, subscribe, make_coupon):
    subscribe("acme")
    make_coupon("TWICE")
    assert finance.post(REDEEM, {"code": "TWICE", "tenant_id": "acme"}, format="json").status_code == 201
    assert reason_of(finance, code="twice", tenant_id="acme") == "already_redeemed"
    r = finance.post(REDEEM, {"code": "Twice", "tenant_id": "acme"}, format="json")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "already_redeemed"
    assert CouponRedemption.objects.filter(tenant_id="acme").count() == 1
    assert Coupon.objects.get(code="TWICE").times_redeemed == 1


def test_plan_eligibility(finance, subscribe, make_coupon):
    subscribe("acme", "starter")
    make_coupon("PROONLY", applies_to_plans=["pro", "business"])
    make_coupon("ANYPLAN")
    # Without plan_id the live subscription's plan (starter) is checked.
    assert reason_of(finance, code="PROONLY", tenant_id="acme") == "plan_not_eligible"
    assert reason_of(finance, code="PROONLY", tenant_id="acme", plan_id="business") is None
    assert reason_of(finance, code="ANYPLAN", tenant_id="acme") is None
    r = finance.post(REDEEM, {"code": "PROONLY", "tenant_id": "acme"}, format="json")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "plan_not_eligible"
    assert not Discount.objects.exists()


def test_currency_mismatch(finance, subscribe, make_coupon):
    subscribe("acme", "pro-eur")
    make_coupon("USD5", amount_off="5", currency="USD")
    make_coupon("EUR5", amount_off="5", currency="EUR")
    make_coupon("PCT", percent_off="5")
    assert reason_of(finance, code="USD5", tenant_id="acme") == "currency_mismatch"
    assert reason_of(finance, code="USD5", tenant_id="acme", plan_id="pro") is None
    assert reason_of(finance, code="EUR5", tenant_id="acme") is None
    assert reason_of(finance, code="PCT", tenant_id="acme") is None
    r = finance.post(REDEEM, {"code": "usd5", "tenant_id": "acme"}, format="json")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "currency_mismatch"
    assert finance.post(REDEEM, {"code": "eur5", "tenant_id": "acme"}, format="json").status_code == 201
    d = Discount.objects.get(active=True)
    assert d.amount_off == Decimal("5.00") and d.currency == "EUR" and d.percent_off is None


def test_without_subscription_or_plan_only_coupon_checks_apply(finance, make_coupon, tenant):
    make_coupon("PROONLY2", applies_to_plans=["pro"], amount_off="5", currency="EUR")
    assert reason_of(finance, code="PROONLY2", tenant_id="acme") is None
    assert reason_of(finance, code="PROONLY2", tenant_id="acme", plan_id="starter") == "plan_not_eligible"
    assert reason_of(finance, code="PROONLY2", tenant_id="acme", plan_id="pro") == "currency_mismatch"
    r = finance.post(VALIDATE, {"code": "PROONLY2", "tenant_id": "acme", "plan_id": "nope"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "plan_id"


def test_reasons_come_in_contract_order(finance, subscribe, make_coupon):
    """A coupon failing every check reports each reason in turn as the earlier ones are fixed."""
    subscribe("acme", "pro-eur")
    c = make_coupon("ALLBAD", amount_off="5", currency="USD", max_redemptions=2, applies_to_plans=["pro"])
    # acme already redeemed it and the last slot is taken; it is also off and past its redeem_by.
    CouponRedemption.objects.create(coupon=c, tenant_id="acme")
    Coupon.objects.filter(pk=c.pk).update(times_redeemed=2, active=False, redeem_by=days_ago(1))

    def reason():
        return reason_of(finance, code="allbad", tenant_id="acme")

    assert reason() == "inactive"
    Coupon.objects.filter(pk=c.pk).update(active=True)
    assert reason() == "expired"
    Coupon.objects.filter(pk=c.pk).update(redeem_by=None)
    assert reason() == "max_redemptions_reached"
    Coupon.objects.filter(pk=c.pk).update(max_redemptions=5)
    assert reason() == "already_redeemed"
    CouponRedemption.objects.filter(coupon=c, tenant_id="acme").delete()
    assert reason() == "plan_not_eligible"
    Coupon.objects.filter(pk=c.pk).update(applies_to_plans=["pro", "pro-eur"])
    assert reason() == "currency_mismatch"
    Coupon.objects.filter(pk=c.pk).update(currency="EUR")
    assert reason() is None


def test_redeem_creates_redemption_and_discount(api, subscribe, make_coupon):
    sub = subscribe("acme")
    c = make_coupon("Spring", percent_off="20", duration="repeating", duration_in_periods=3)
    r = api("tenant", "acme").post(REDEEM, {"code": "SPRING", "tenant_id": "acme"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) == {"id", "coupon_id", "tenant_id", "subscription_id", "created_at"}
    assert body["coupon_id"] == str(c.id) and body["tenant_id"] == "acme" and body["subscription_id"] == str(sub.id)
    d = Discount.objects.get(subscription=sub, active=True)
    assert d.coupon_id == c.id and d.percent_off == Decimal("20") and d.duration == "repeating"
    assert d.duration_in_periods == 3 and d.periods_applied == 0
    assert Coupon.objects.get(pk=c.pk).times_redeemed == 1


def test_redeem_replaces_earlier_discount(finance, subscribe, make_coupon):
    sub = subscribe("acme")
    make_coupon("FIRST", percent_off="10", duration="forever")
    make_coupon("SECOND", amount_off="15", currency="USD")
    assert finance.post(REDEEM, {"code": "FIRST", "tenant_id": "acme"}, format="json").status_code == 201
    first = Discount.objects.get(active=True)
    r = finance.post(REDEEM, {"code": "SECOND", "tenant_id": "acme", "subscription_id": str(sub.id)}, format="json")
    assert r.status_code == 201
    first.refresh_from_db()
    assert first.active is False and first.ended_at is not None
    current = Discount.objects.get(subscription=sub, active=True)
    assert current.amount_off == Decimal("15.00") and current.duration == "once"
    assert Discount.objects.filter(subscription=sub).count() == 2


def test_redeem_without_live_subscription(finance, tenant, subscribe, make_coupon):
    make_coupon("NOSUB")
    r = finance.post(REDEEM, {"code": "NOSUB", "tenant_id": "acme"}, format="json")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_subscription"
    r = finance.post(REDEEM, {"code": "NOSUB", "tenant_id": "never-seen"}, format="json")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_subscription"
    canceled = subscribe("acme", status="canceled")
    r = finance.post(REDEEM, {"code": "NOSUB", "tenant_id": "acme", "subscription_id": str(canceled.id)}, format="json")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_subscription"
    assert Coupon.objects.get(code="NOSUB").times_redeemed == 0 and not CouponRedemption.objects.exists()


def test_redeem_invalid_codes_are_409_with_reason(finance, subscribe, make_coupon):
    subscribe("acme")
    make_coupon("EXPIRED1", redeem_by=days_ago(2))
    c = make_coupon("OFF1")
    Coupon.objects.filter(pk=c.pk).update(active=False)
    for code, reason in (("missing", "not_found"), ("expired1", "expired"), ("off1", "inactive")):
        r = finance.post(REDEEM, {"code": code, "tenant_id": "acme"}, format="json")
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == reason
    assert not Discount.objects.exists()


def test_redeem_with_other_tenants_subscription_is_400(finance, subscribe, make_coupon):
    subscribe("acme")
    theirs = subscribe("globex")
    make_coupon("MINE")
    r = finance.post(REDEEM, {"code": "MINE", "tenant_id": "acme", "subscription_id": str(theirs.id)}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "subscription_id"


def test_service_functions(subscribe, make_coupon):
    sub = subscribe("acme")
    c = make_coupon("SVC", duration="forever")
    assert coupon_validate(code="svc", tenant_id="acme") == (c, None)
    coupon, reason = coupon_validate(code="nothing", tenant_id="acme")
    assert coupon is None and reason == "not_found"
    redemption = coupon_redeem(code="Svc", tenant_id="acme", subscription=sub)
    assert redemption.subscription_id == sub.id and redemption.coupon_id == c.id
    with pytest.raises(CouponInvalid) as exc:
        coupon_redeem(code="SVC", tenant_id="acme")
    assert exc.value.reason == "already_redeemed" and exc.value.status_code == 409
    assert exc.value.get_codes() == "already_redeemed"


def test_tenant_may_validate_and_redeem_only_for_itself(api, subscribe, make_coupon):
    subscribe("acme")
    subscribe("globex")
    make_coupon("SELF")
    acme = api("tenant", "acme")
    for url in (VALIDATE, REDEEM):
        r = acme.post(url, {"code": "SELF", "tenant_id": "globex"}, format="json")
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "permission_denied"
    assert not CouponRedemption.objects.exists()
    assert validate(acme, code="SELF", tenant_id="acme")["valid"] is True
    assert acme.post(REDEEM, {"code": "SELF", "tenant_id": "acme"}, format="json").status_code == 201
    service = api("service")
    assert service.post(VALIDATE, {"code": "SELF", "tenant_id": "acme"}, format="json").status_code == 403
    assert service.post(REDEEM, {"code": "SELF", "tenant_id": "globex"}, format="json").status_code == 403


def test_validate_and_redeem_bad_bodies(finance):
    r = finance.post(VALIDATE, {"tenant_id": "acme"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "code"
    r = finance.post(REDEEM, {"code": "X", "tenant_id": "acme", "subscription_id": "not-a-uuid"}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "subscription_id"
