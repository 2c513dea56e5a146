"""Defect 7 of issue 12: the smaller ones, each a 4xx in the error shape (never a 500 or a silent 200)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from billing.models import UsageEvent
from billing_project.fields import format_instant
from costcenters.models import CostCenter
from tests.billing_project.test_auth_and_errors import assert_error

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"
USAGE = f"{BASE}/tenants/acme/usage"


def _attrs(resp) -> set:
    return {e["attr"] for e in resp.json()["errors"]}


@pytest.mark.parametrize("quantity", [" 1", "1 ", None, "1_000", ""])
def test_quantity_with_spaces_separators_or_null_is_refused(service, catalog, quantity):
    resp = service.post(USAGE, {"event_id": "q", "metric": "api_calls", "quantity": quantity}, format="json")
    assert_error(resp, 400)
    assert _attrs(resp) == {"quantity"}
    assert not UsageEvent.objects.exists()


def test_quantity_left_out_is_one(service, catalog):
    assert service.post(USAGE, {"event_id": "q", "metric": "api_calls"}, format="json").status_code == 201
    assert UsageEvent.objects.get().quantity == 1


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31"])
def test_timestamps_outside_2000_2100_are_refused(service, finance, catalog, timestamp):
    resp = service.post(USAGE, {"event_id": "t", "metric": "api_calls", "timestamp": timestamp}, format="json")
    assert_error(resp, 400, "out_of_range")
    assert _attrs(resp) == {"timestamp"}
    summary = finance.get(f"{USAGE}/summary", {"from": timestamp, "to": "2026-01-01"})
    assert_error(summary, 400, "out_of_range")


def test_instants_are_always_written_with_four_digit_years():
    assert format_instant(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_instant(datetime(2026, 3, 4, 5, 6, 7, 80, tzinfo=UTC)) == "2026-03-04T05:06:07.000080Z"


def test_a_token_whose_exp_is_a_string_is_401(catalog):
    key = settings.SIMPLE_JWT["SIGNING_KEY"]
    for exp in ("9999999999", str(int(time.time()) + 60), True):
        client = APIClient()
        token = jwt.encode({"sub": "x", "role": "finance", "exp": exp}, key, algorithm="HS256")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert_error(client.get(f"{BASE}/plans"), 401, "token_not_valid")


@pytest.mark.parametrize("query", ["limit=-5", "offset=true", "offset=" + "1" + "0" * 30, "limit=0", "limit=1e3"])
def test_bad_limit_or_offset_is_400(finance, catalog, query):
    resp = finance.get(f"{BASE}/plans?{query}")
    assert_error(resp, 400)
    assert _attrs(resp) <= {"limit", "offset"}


def test_good_limit_and_offset_still_page_and_a_huge_limit_is_clamped(finance, catalog):
    page = finance.get(f"{BASE}/plans?limit=1&offset=1").json()
    assert len(page["results"]) == 1 and page["count"] > 1
    assert finance.get(f"{BASE}/plans?limit=100000").status_code == 200


def test_long_urls_and_headers_get_the_json_shape(finance, catalog):
    assert_error(finance.get(f"{BASE}/plans?metric={'x' * 5000}"), 414, "uri_too_long")
    resp = finance.get(f"{BASE}/plans", HTTP_X_TRACE="y" * 9000)
    assert_error(resp, 431, "request_header_fields_too_large")


@pytest.mark.parametrize(
    "path,body",
    [
        ("stripe/checkout", {"tenant_id": "globex", "mode": "nonsense"}),
        ("stripe/checkout", {"tenant_id": "globex"}),
        ("stripe/portal", {"tenant_id": "globex", "return_url": "not a url"}),
        ("coupons/validate", {"tenant_id": "globex"}),
        ("coupons/redeem", {"tenant_id": "globex", "code": ""}),
        ("cost-centers", {"tenant_id": "globex"}),
        ("quotas", {"tenant_id": "globex", "limit": "-1"}),
    ],
)
def test_a_foreign_tenant_in_the_body_is_403_before_the_body_is_validated(api, catalog, path, body):
    assert_error(api("tenant", "acme").post(f"{BASE}/{path}", body, format="json"), 403, "permission_denied")


def test_put_replaces_so_required_fields_are_required(api, finance, tenant, catalog):
    cc = finance.post(f"{BASE}/cost-centers", {"tenant_id": "acme", "code": "eng", "name": "Eng"}, format="json")
    assert cc.status_code == 201, cc.content
    resp = finance.put(f"{BASE}/cost-centers/{cc.json()['id']}", {}, format="json")
    assert_error(resp, 400, "required")
    assert _attrs(resp) == {"code", "name"}
    quota = finance.post(f"{BASE}/quotas", {"tenant_id": "acme", "metric": "api_calls", "limit": "10"}, format="json")
    assert quota.status_code == 201, quota.content
    resp = finance.put(f"{BASE}/quotas/{quota.json()['id']}", {}, format="json")
    assert_error(resp, 400, "required")
    assert _attrs(resp) == {"metric", "limit"}


def test_coupon_validate_without_code_or_tenant_is_400_naming_them(finance, catalog):
    resp = finance.post(f"{BASE}/coupons/validate", {}, format="json")
    assert_error(resp, 400)
    assert _attrs(resp) == {"code", "tenant_id"}


def test_nul_characters_are_refused_in_bodies_and_urls(finance, tenant, catalog):
    body = {"tenant_id": "acme", "code": "en\u0000g", "name": "Eng"}
    resp = finance.post(f"{BASE}/cost-centers", body, format="json")
    assert_error(resp, 400, "null_characters_not_allowed")
    assert _attrs(resp) == {"code"}
    resp = finance.post(f"{BASE}/quotas", {"tenant_id": "acme", "metric": "api\u0000", "limit": "1"}, format="json")
    assert_error(resp, 400, "null_characters_not_allowed")
    assert _attrs(resp) == {"metric"}
    batch = {"events": [{"event_id": "ok"}, {"event_id": "e", "metric": "api_calls\u0000"}]}
    resp = finance.post(f"{USAGE}/batch", batch, format="json")
    assert_error(resp, 400, "null_characters_not_allowed")
    assert _attrs(resp) == {"events.1.metric"}
    assert_error(finance.get(f"{USAGE}/summary?metric=api%00calls"), 400, "null_characters_not_allowed")
    assert not CostCenter.objects.exists()


@pytest.mark.parametrize("tenant_id", ["ac me", "acme ", "acmé", "acme\n", "ａｃｍｅ"])
def test_tenant_ids_in_bodies_follow_the_path_rule(finance, catalog, tenant_id):
    for path, body in (
        ("coupons/validate", {"tenant_id": tenant_id, "code": "X"}),
        ("cost-centers", {"tenant_id": tenant_id, "code": "eng", "name": "Eng"}),
        ("quotas", {"tenant_id": tenant_id, "metric": "api_calls", "limit": "1"}),
    ):
        resp = finance.post(f"{BASE}/{path}", body, format="json")
        assert_error(resp, 400)
        assert _attrs(resp) == {"tenant_id"}, (path, resp.json())


def test_a_tenant_id_with_a_trailing_newline_in_the_path_is_400(service, catalog):
    resp = service.post(f"{BASE}/tenants/acme%0A/usage", {"event_id": "n", "metric": "api_calls"}, format="json")
    assert_error(resp, 400)
    assert not UsageEvent.objects.exists()
