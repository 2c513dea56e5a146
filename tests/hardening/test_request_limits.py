"""Defects 2 and 3 of issue 12: oversized and deeply nested bodies get a clear 4xx, never a 500."""

from __future__ import annotations

import orjson
import pytest
from django.conf import settings

from billing.models import UsageEvent
from billing_project.parsers import MAX_JSON_DEPTH
from tests.billing_project.test_auth_and_errors import assert_error

pytestmark = pytest.mark.django_db
USAGE = "/api/v1/billing/tenants/acme/usage"


def _post_raw(client, path, body: bytes, **headers):
    return client.generic("POST", path, body, content_type="application/json", **headers)


def test_the_largest_valid_batch_is_accepted(service, catalog):
    props = {"blob": "x" * 4000}  # ~4,010 bytes serialized, under the 4,096-byte cap
    events = [{"event_id": f"big-{i:04d}", "metric": "api_calls", "properties": props} for i in range(1000)]
    body = orjson.dumps({"events": events})
    assert len(body) > 4_000_000
    resp = _post_raw(service, f"{USAGE}/batch", body)
    assert resp.status_code == 200, resp.content[:300]
    assert resp.json() == {"accepted": 1000, "duplicates": 0}


@pytest.mark.parametrize("with_key", [False, True])
def test_a_body_over_the_limit_is_413_naming_the_limit(service, catalog, with_key):
    body = b'{"events": [' + b'{"event_id": "x", "metric": "api_calls"},' * 200_000 + b"{}]}"
    assert len(body) > settings.API_MAX_BODY_BYTES
    headers = {"HTTP_IDEMPOTENCY_KEY": "big-1"} if with_key else {}
    resp = _post_raw(service, f"{USAGE}/batch", body, **headers)
    assert_error(resp, 413, "request_too_large")
    assert str(settings.API_MAX_BODY_BYTES) in resp.json()["errors"][0]["detail"]
    assert UsageEvent.objects.count() == 0


def test_the_limit_is_a_setting(service, catalog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    resp = _post_raw(service, USAGE, orjson.dumps({"event_id": "e", "metric": "api_calls", "pad": "x" * 200}))
    assert_error(resp, 413, "request_too_large")
    assert "100 bytes" in resp.json()["errors"][0]["detail"]


def _nested(depth: int, leaf="x"):
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize("depth", [260, 5000])
def test_deep_properties_on_usage_are_400(service, catalog, depth):
    # orjson builds the 5,000-deep text for us only up to its own limit, so write the text by hand
    body = b'{"event_id": "deep", "metric": "api_calls", "properties": ' + b'{"k":' * depth + b"1" + b"}" * depth + b"}"
    assert_error(_post_raw(service, USAGE, body), 400, "json_too_deep")
    batch = b'{"events": [{"event_id": "deep", "metric": "api_calls", "properties": '
    batch += b'{"k":' * depth + b"1" + b"}" * depth + b"}]}"
    assert_error(_post_raw(service, f"{USAGE}/batch", batch), 400, "json_too_deep")
    assert UsageEvent.objects.count() == 0


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_arrays_on_drf_parsed_endpoints_are_400(finance, catalog, depth):
    body = b"[" * depth + b"]" * depth
    for path in (
        "/api/v1/billing/coupons/validate",
        "/api/v1/billing/tenants/acme/subscriptions",
        "/api/v1/billing/coupons",
    ):
        assert_error(_post_raw(finance, path, body), 400, "json_too_deep")


def test_nesting_up_to_the_bound_is_accepted(service, catalog):
    props = _nested(MAX_JSON_DEPTH - 3)  # body object -> properties -> ... : the whole document at the bound
    resp = _post_raw(service, USAGE, orjson.dumps({"event_id": "ok", "metric": "api_calls", "properties": props}))
    assert resp.status_code == 201, resp.content


def _nested_list(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "make",
    [
        _nested,
        _nested_list,
        # the deep branch is one of many shallow siblings, at the end of a batch
        lambda depth: {"events": [{"p": {"a": 1}} for _ in range(50)] + [{"p": _nested(depth - 3)}]},
        lambda depth: [{"a": [1, 2]}, [[], {}], _nested_list(depth - 1)],
    ],
)
def test_depth_bound_is_exact_for_every_shape(make):
    from billing_project.parsers import json_depth_exceeds

    assert not json_depth_exceeds(make(MAX_JSON_DEPTH))
    assert json_depth_exceeds(make(MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds("scalar") and not json_depth_exceeds([]) and not json_depth_exceeds({})
