"""The isolation and role matrix, generated from the contract's endpoint tables.

Every row of ../shared/spec/endpoints.tsv and endpoints-2.tsv that the project routes is called,
against acme's objects (tests/reliability/world.py), by four callers: another tenant (globex),
`service`, no token and an expired token. Each cell asserts the contract's status (API.md sections
1-2) and that no table changed (row counts and an md5 of every row). The one allowed change is a
service token recording usage, which the contract allows. Rows not routed yet are skipped with the
reason, as are rows whose `:param` has no fixture in world.py yet: new endpoints are covered as soon
as they are routed and their object has a maker there.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.urls import Resolver404, resolve
from rest_framework.test import APIClient

from tests.conftest import make_client
from tests.reliability.world import OTHER, OWNER, build_world, table_fingerprint

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "spec"
CALLERS = ("other_tenant", "service", "no_token", "expired_token")

# API.md section 2: what a tenant "may not" do, even on its own tenant (so another tenant gets 403).
FINANCE_ONLY = {
    "POST /api/v1/billing/coupons",
    "GET /api/v1/billing/coupons",
    "GET /api/v1/billing/coupons/:couponId",  # the coupon book is finance's (tenants validate a code)
    "POST /api/v1/billing/coupons/:couponId/deactivate",
    "POST /api/v1/billing/subscriptions/:subscriptionId/credits",
    "POST /api/v1/billing/tenants/:tenantId/invoices",
    "POST /api/v1/billing/invoices/:invoiceId/finalize",
    "POST /api/v1/billing/invoices/:invoiceId/void",
}
# API.md section 2: what `service` may do ("record usage ... and read quota checks; nothing else").
SERVICE_MAY = {
    "POST /api/v1/billing/tenants/:tenantId/usage": 201,
    "POST /api/v1/billing/tenants/:tenantId/usage/batch": 200,
    "GET /api/v1/billing/quotas/tenants/:tenantId/check": 200,
}
PUBLIC_READS = {"GET /api/v1/billing/plans", "GET /api/v1/billing/plans/:planId"}  # the catalog
WEBHOOK = "POST /api/v1/billing/stripe/webhook"  # no token: its Stripe-Signature is checked (400)


def _event(n: int) -> dict:
    return {"event_id": f"matrix-{n}-{time.monotonic_ns()}", "metric": "api_calls", "quantity": "1"}


# A body that would succeed for the owner, so a refusal is about who calls, not what is sent.
BODIES = {
    "/tenants/:tenantId/usage": lambda: _event(0),
    "/tenants/:tenantId/usage/batch": lambda: {"events": [_event(1), _event(2)]},
    "/tenants/:tenantId/subscriptions": lambda: {"plan_id": "starter"},
    "/subscriptions/:subscriptionId/change-plan": lambda: {"plan_id": "business"},
    "/subscriptions/:subscriptionId/discount": lambda: {"coupon_code": "WORLD10"},
    "/subscriptions/:subscriptionId/credits": lambda: {"amount": "5.00", "reason": "matrix"},
    "/stripe/checkout": lambda: {
        "tenant_id": OWNER,
        "mode": "setup",
        "success_url": "https://example.com/ok",
        "cancel_url": "https://example.com/no",
    },
    "/stripe/portal": lambda: {"tenant_id": OWNER, "return_url": "https://example.com/back"},
    "/cost-centers": lambda: {"tenant_id": OWNER, "code": "ops", "name": "Ops"},
    "/cost-centers/:costCenterId": lambda: {"tenant_id": OWNER, "code": "eng", "name": "Eng 2"},
    "/quotas": lambda: {"tenant_id": OWNER, "metric": "jobs", "limit": "5", "period": "month"},
    "/quotas/:quotaId": lambda: {"tenant_id": OWNER, "metric": "api_calls", "limit": "7", "period": "month"},
    "/coupons": lambda: {"code": "MATRIX10", "percent_off": "10", "duration": "once"},
    "/coupons/validate": lambda: {"code": "WORLD10", "tenant_id": OWNER},
    "/coupons/redeem": lambda: {"code": "WORLD10", "tenant_id": OWNER},
    "/realtime-cost/tenants/:tenantId/alerts": lambda: {"type": "cost_threshold", "threshold": "5.00"},
    "/webhook-endpoints": lambda: {"url": "http://127.0.0.1:9/other", "tenant_id": OWNER, "event_types": ["*"]},
    "/webhook-endpoints/:endpointId": lambda: {"url": "http://127.0.0.1:9/moved", "event_types": ["invoice.*"]},
}
BODY_TENANT = {
    "/stripe/checkout",
    "/stripe/portal",
    "/cost-centers",
    "/quotas",
    "/coupons/validate",
    "/coupons/redeem",
    "/webhook-endpoints",
}
# API.md section 13: lists a tenant reads in its own scope; another tenant gets 200 with none of acme's rows.
OWN_SCOPE_LISTS = {"GET /api/v1/billing/events", "GET /api/v1/billing/webhook-endpoints"}


def spec_rows(name: str) -> list[dict]:
    with (SPEC / name).open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def routed(path: str, method: str) -> bool:
    """Return whether Django routes `method path` (as ../shared/tools/endpoint_coverage.py decides)."""
    try:
        match = resolve(path)
    except Resolver404:
        return False
    cls = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    return cls is None or hasattr(cls, method.lower())


def concrete(template: str, ids: dict) -> str | None:
    """Return the path with acme's ids filled in, or None when a `:param` has no fixture yet."""
    parts = []
    for part in template.split("/"):
        if part.startswith(":"):
            if part[1:] not in ids:
                return None
            part = ids[part[1:]]
        parts.append(part)
    return "/".join(parts)


def expected(row: str, caller: str, roles_known: bool = True) -> set[int]:
    """Return the statuses the contract allows for `caller` on `row` ("METHOD /template").

    For the second table (sections 11-14) the tenant's role rules are not tabulated here: another
    tenant on an object id must get 403 (finance-only) or 404 (not found), never an answer.
    """
    method, template = row.split(" ", 1)
    if row == WEBHOOK:
        return {400}
    if caller in ("no_token", "expired_token"):
        return {401}
    if caller == "service":
        return {SERVICE_MAY[row]} if row in SERVICE_MAY else {403}
    if row in PUBLIC_READS or row in OWN_SCOPE_LISTS:
        return {200}
    if row in FINANCE_ONLY or ":tenantId" in template or template.removeprefix("/api/v1/billing") in BODY_TENANT:
        return {403}
    if ":" in template:
        return {404} if roles_known else {403, 404}
    return {403, 404}


def client_for(caller: str) -> APIClient:
    if caller == "other_tenant":
        return make_client("tenant", OTHER)
    if caller == "service":
        return make_client("service")
    client = APIClient()
    if caller == "expired_token":
        claims = {"sub": "matrix", "role": "finance", "exp": int(time.time()) - 60, "token_type": "access"}
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {jwt.encode(claims, settings.JWT_SIGNING_KEY, 'HS256')}")
    return client


def call(client: APIClient, method: str, path: str, template: str):
    short = template.removeprefix("/api/v1/billing")
    body = BODIES.get(short, dict)() if method in ("POST", "PUT") else None
    data = "" if body is None else json.dumps(body)
    return client.generic(method, path, data=data, content_type="application/json")


def run_matrix(spec_name: str, ids: dict) -> tuple[int, list[str], list[str]]:
    """Return (cells checked, failures, skipped rows with reasons)."""
    cells, failures, skipped = 0, [], []
    state = table_fingerprint()
    for row in spec_rows(spec_name):
        method, template = row["method"], row["path"]
        key = f"{method} {template}"
        path = concrete(template, ids)
        if path is None:
            skipped.append(f"{key}: no fixture for its :param yet (add a maker to world.py)")
            continue
        if not routed(path, method):
            skipped.append(f"{key}: not routed yet")
            continue
        for caller in CALLERS:
            resp = call(client_for(caller), method, path, template)
            before, state = state, table_fingerprint()
            cells += 1
            want = expected(key, caller, roles_known=spec_name == "endpoints.tsv")
            if resp.status_code not in want:
                failures.append(f"{key} as {caller}: {resp.status_code} (want {sorted(want)}) {resp.content[:200]!r}")
                continue
            if key in OWN_SCOPE_LISTS and resp.status_code == 200:
                leaked = [r for r in resp.json()["results"] if r.get("tenant_id") == OWNER]
                if leaked:
                    failures.append(f"{key} as {caller}: shows {len(leaked)} of {OWNER}'s rows")
            if resp.status_code >= 400 and resp.json().get("errors") is None:
                failures.append(f"{key} as {caller}: {resp.status_code} not in the error shape")
            if resp.status_code >= 300 and state != before:
                failures.append(f"{key} as {caller}: answered {resp.status_code} but the database changed")
    return cells, failures, skipped


@pytest.fixture
def world(catalog, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_matrix"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_matrix"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing may leave the machine
    return build_world()


@pytest.mark.django_db
@pytest.mark.parametrize("spec_name", ["endpoints.tsv", "endpoints-2.tsv"])
def test_every_endpoint_refuses_the_wrong_caller_and_changes_nothing(world, spec_name):
    if not (SPEC / spec_name).exists():
        pytest.skip(f"{spec_name} is not in ../shared/spec")
    cells, failures, skipped = run_matrix(spec_name, world)
    print(f"\n{spec_name}: {cells} cells checked, {len(skipped)} rows skipped")
    for line in skipped:
        print("  skipped:", line)
    assert not failures, "\n".join(failures)
    if spec_name == "endpoints.tsv":
        assert cells >= 4 * 49, "every row of the first contract table is routed"
