"""The back office: coupons with redemptions inline and a deactivate action; credit grants via the service."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from billing.models import CreditGrant
from coupons.models import Coupon
from coupons.services.redemptions import coupon_redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-123456")
    client = Client()
    client.force_login(user)
    return client


def test_coupon_admin_pages_and_deactivate_action(staff, subscribe, make_coupon):
    subscribe("acme")
    c = make_coupon("ADMIN10", max_redemptions=3)
    coupon_redeem(code="admin10", tenant_id="acme")
    assert staff.get("/admin/coupons/coupon/").status_code == 200
    page = staff.get(f"/admin/coupons/coupon/{c.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "acme" in html  # the redemption inline
    assert 'name="times_redeemed"' not in html  # read-only
    r = staff.post("/admin/coupons/coupon/", {"action": "deactivate", "_selected_action": [str(c.pk)]})
    assert r.status_code == 302
    c.refresh_from_db()
    assert c.active is False and c.times_redeemed == 1


def test_coupon_admin_add_validates_terms(staff, catalog):
    base = {
        "code": "adm-Good",
        "name": "",
        "duration": "repeating",
        "duration_in_periods": "2",
        "applies_to_plans": '["pro"]',
        "active": "on",
        "redemptions-TOTAL_FORMS": "0",
        "redemptions-INITIAL_FORMS": "0",
    }
    bad = staff.post("/admin/coupons/coupon/add/", {**base, "percent_off": "150"})
    assert bad.status_code == 200 and not Coupon.objects.exists()
    assert "percent_off must be greater than 0 and at most 100." in bad.content.decode()
    ok = staff.post("/admin/coupons/coupon/add/", {**base, "percent_off": "15"})
    assert ok.status_code == 302, ok.content.decode()[:2000]
    assert Coupon.objects.get().percent_off == Decimal("15")
    dup = staff.post("/admin/coupons/coupon/add/", {**base, "code": "ADM-GOOD", "percent_off": "5"})
    assert dup.status_code == 200 and Coupon.objects.count() == 1
    assert "The code is taken by &#x27;adm-Good&#x27;" in dup.content.decode()


def test_credit_grant_admin_add_uses_service_rules(staff, subscribe):
    sub = subscribe("acme", "pro-eur")
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%d")
    bad = staff.post(
        "/admin/billing/creditgrant/add/",
        {
            "subscription": str(sub.pk),
            "amount": "5",
            "reason": "x",
            "expires_at_0": past,
            "expires_at_1": "00:00:00",
            "applications-TOTAL_FORMS": "0",
            "applications-INITIAL_FORMS": "0",
        },
    )
    assert bad.status_code == 200 and not CreditGrant.objects.exists()
    assert "expires_at must be in the future." in bad.content.decode()
    ok = staff.post(
        "/admin/billing/creditgrant/add/",
        {
            "subscription": str(sub.pk),
            "amount": "7.25",
            "reason": "support",
            "expires_at_0": "",
            "expires_at_1": "",
            "applications-TOTAL_FORMS": "0",
            "applications-INITIAL_FORMS": "0",
        },
    )
    assert ok.status_code == 302, ok.content.decode()[:2000]
    g = CreditGrant.objects.get()
    assert (g.tenant_id, g.currency, g.amount, g.remaining) == ("acme", "EUR", Decimal("7.25"), Decimal("7.25"))
    assert staff.get(f"/admin/billing/creditgrant/{g.pk}/change/").status_code == 200
    assert staff.get("/admin/billing/creditgrant/").status_code == 200
