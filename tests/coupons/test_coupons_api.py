"""POST/GET /coupons, GET /coupons/:id, deactivate: shapes, input rules, case-insensitive codes, roles."""

import uuid

import pytest

from coupons.models import Coupon

pytestmark = pytest.mark.django_db

URL = "/api/v1/billing/coupons"


def err(r):
    return r.json()["errors"][0]


def test_create_percent_coupon_shape(finance, catalog):
    r = finance.post(
        URL,
        {
            "code": "Launch-2026",
            "name": "Launch",
            "percent_off": "12.5",
            "duration": "repeating",
            "duration_in_periods": 3,
            "max_redemptions": 100,
            "redeem_by": "2030-01-31",
            "applies_to_plans": ["pro", "business"],
        },
        format="json",
    )
    assert r.status_code == 201, r.json()
    c = r.json()
    assert set(c) == {
        "id",
        "code",
        "name",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_periods",
        "max_redemptions",
        "times_redeemed",
        "redeem_by",
        "applies_to_plans",
        "active",
        "created_at",
    }
    assert c["code"] == "Launch-2026" and c["percent_off"] == "12.5" and c["amount_off"] is None
    assert c["currency"] is None and c["duration"] == "repeating" and c["duration_in_periods"] == 3
    assert c["max_redemptions"] == 100 and c["times_redeemed"] == 0 and c["active"] is True
    assert c["redeem_by"] == "2030-01-31T00:00:00Z" and c["applies_to_plans"] == ["pro", "business"]
    assert c["created_at"].endswith("Z")
    uuid.UUID(c["id"])


def test_create_amount_coupon_with_currency(finance, catalog):
    r = finance.post(URL, {"code": "FIVE", "amount_off": "5", "currency": "eur", "duration": "forever"}, format="json")
    assert r.status_code == 201, r.json()
    c = r.json()
    assert c["amount_off"] == "5.00" and c["currency"] == "EUR" and c["percent_off"] is None
    assert c["duration"] == "forever" and c["duration_in_periods"] is None and c["max_redemptions"] is None
    jpy = finance.post(URL, {"code": "YEN500", "amount_off": "500", "currency": "JPY"}, format="json").json()
    assert jpy["amount_off"] == "500" and jpy["duration"] == "once"


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"code": "ab", "percent_off": "10"}, "code", "invalid"),
        ({"code": "x" * 65, "percent_off": "10"}, "code", "invalid"),
        ({"code": "has space", "percent_off": "10"}, "code", "invalid"),
        ({"code": "emoji✓", "percent_off": "10"}, "code", "invalid"),
        ({"code": "NONE1"}, "percent_off", "discount_kind"),
        ({"code": "BOTH1", "percent_off": "10", "amount_off": "5", "currency": "USD"}, "percent_off", "discount_kind"),
        ({"code": "ZERO1", "percent_off": "0"}, "percent_off", "out_of_range"),
        ({"code": "OVER1", "percent_off": "100.01"}, "percent_off", "out_of_range"),
        ({"code": "NEG1", "percent_off": "-5"}, "percent_off", "out_of_range"),
        ({"code": "NOCUR", "amount_off": "5"}, "currency", "invalid_currency"),
        ({"code": "BADCUR", "amount_off": "5", "currency": "XYZ"}, "currency", "invalid_currency"),
        ({"code": "CENTS", "amount_off": "5.001", "currency": "USD"}, "amount_off", "max_decimal_places"),
        ({"code": "YENC", "amount_off": "5.5", "currency": "JPY"}, "amount_off", "max_decimal_places"),
        ({"code": "NEGAMT", "amount_off": "-1", "currency": "USD"}, "amount_off", "out_of_range"),
        ({"code": "REP1", "percent_off": "10", "duration": "repeating"}, "duration_in_periods", "required"),
        (
            {"code": "REP0", "percent_off": "10", "duration": "repeating", "duration_in_periods": 0},
            "duration_in_periods",
            "min_value",
        ),
        (
            {"code": "ONCE3", "percent_off": "10", "duration": "once", "duration_in_periods": 3},
            "duration_in_periods",
            "invalid",
        ),
        ({"code": "DUR1", "percent_off": "10", "duration": "weekly"}, "duration", "invalid_choice"),
        ({"code": "MAX0", "percent_off": "10", "max_redemptions": 0}, "max_redemptions", "min_value"),
        (
            {"code": "PLANX", "percent_off": "10", "applies_to_plans": ["pro", "nope"]},
            "applies_to_plans.1",
            "does_not_exist",
        ),
        ({"code": "DATE1", "percent_off": "10", "redeem_by": "soon"}, "redeem_by", "invalid_datetime"),
        ({"code": "TYPE1", "percent_off": "ten"}, "percent_off", "invalid"),
    ],
)
def test_create_rejects_bad_input(finance, catalog, body, attr, code):
    r = finance.post(URL, body, format="json")
    assert r.status_code == 400, r.json()
    assert (err(r)["attr"], err(r)["code"]) == (attr, code)
    assert Coupon.objects.count() == 0


def test_codes_unique_case_insensitively(finance, catalog):
    assert finance.post(URL, {"code": "Summer", "percent_off": "10"}, format="json").status_code == 201
    r = finance.post(URL, {"code": "SUMMER", "amount_off": "3", "currency": "USD"}, format="json")
    assert r.status_code == 409 and err(r)["code"] == "coupon_code_taken"
    assert Coupon.objects.count() == 1
    found = finance.get(URL + "?code=sUmMeR").json()
    assert found["count"] == 1 and found["results"][0]["code"] == "Summer"


def test_list_filters_and_pagination(finance, make_coupon):
    a = make_coupon("AAA")
    make_coupon("BBB")
    make_coupon("CCC")
    finance.post(f"{URL}/{a.id}/deactivate")
    body = finance.get(URL).json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 3
    assert [c["code"] for c in body["results"]] == ["CCC", "BBB", "AAA"]
    assert [c["code"] for c in finance.get(URL + "?active=true").json()["results"]] == ["CCC", "BBB"]
    assert [c["code"] for c in finance.get(URL + "?active=false").json()["results"]] == ["AAA"]
    assert finance.get(URL + "?code=bbb").json()["results"][0]["code"] == "BBB"
    assert finance.get(URL + "?code=bb").json()["count"] == 0
    page = finance.get(URL + "?limit=1&offset=1").json()
    assert [c["code"] for c in page["results"]] == ["BBB"] and page["next"] and page["previous"]
    assert finance.get(URL + "?active=maybe").status_code == 400


def test_get_and_deactivate(finance, make_coupon):
    c = make_coupon("GETME", amount_off="7.5", currency="USD")
    r = finance.get(f"{URL}/{c.id}")
    assert r.status_code == 200 and r.json()["amount_off"] == "7.50" and r.json()["currency"] == "USD"
    r = finance.post(f"{URL}/{c.id}/deactivate")
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["code"] == "GETME"
    assert Coupon.objects.get(pk=c.id).active is False
    again = finance.post(f"{URL}/{c.id}/deactivate")
    assert again.status_code == 200 and again.json()["active"] is False
    missing = finance.get(f"{URL}/{uuid.uuid4()}")
    assert missing.status_code == 404 and err(missing)["code"] == "not_found"
    assert finance.post(f"{URL}/{uuid.uuid4()}/deactivate").status_code == 404


def test_tenant_and_service_may_not_manage_coupons(api, anon, make_coupon):
    c = make_coupon("SECRET")
    for client in (api("tenant", "acme"), api("service")):
        r = client.post(URL, {"code": "SELFSERVE", "percent_off": "100"}, format="json")
        assert r.status_code == 403 and err(r)["code"] == "permission_denied"
        assert client.get(URL).status_code == 403
        assert client.get(f"{URL}/{c.id}").status_code == 403
        assert client.post(f"{URL}/{c.id}/deactivate").status_code == 403
    assert anon.get(URL).status_code == 401
    assert not Coupon.objects.filter(code="SELFSERVE").exists()
    assert Coupon.objects.get(pk=c.id).active is True


def test_coupon_endpoints_in_schema(finance):
    r = finance.get("/api/schema?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in (
        "/api/v1/billing/coupons",
        "/api/v1/billing/coupons/validate",
        "/api/v1/billing/coupons/redeem",
        "/api/v1/billing/coupons/{coupon_id}",
        "/api/v1/billing/coupons/{coupon_id}/deactivate",
        "/api/v1/billing/subscriptions/{subscription_id}/discount",
        "/api/v1/billing/subscriptions/{subscription_id}/credits",
    ):
        assert p in paths, p
