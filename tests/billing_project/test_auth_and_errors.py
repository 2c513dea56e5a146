"""Auth roles, token verification, tenant scoping and the one error shape."""

import time

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from billing_project.auth import issue_token

pytestmark = pytest.mark.django_db


def bearer(token: str) -> APIClient:
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return c


def assert_error(resp, status: int, code: str | None = None):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["type"] in ("validation_error", "client_error", "server_error")
    assert isinstance(body["errors"], list) and body["errors"]
    for e in body["errors"]:
        assert set(e) == {"code", "detail", "attr"}
    if code:
        assert body["errors"][0]["code"] == code, body


def test_no_token_is_401_in_the_error_shape(anon, catalog):
    assert_error(anon.get("/api/v1/billing/plans"), 401, "not_authenticated")


def test_tampered_token_is_401(catalog):
    token = issue_token(sub="x", role="finance")
    head, payload, sig = token.split(".")
    forged = jwt.encode({"sub": "x", "role": "finance", "exp": int(time.time()) + 60}, "wrong-key", algorithm="HS256")
    assert_error(bearer(forged).get("/api/v1/billing/plans"), 401, "token_not_valid")
    assert_error(bearer(f"{head}.{payload}.{sig[:-2]}xx").get("/api/v1/billing/plans"), 401)


def test_expired_token_is_401(catalog):
    expired = jwt.encode(
        {"sub": "x", "role": "finance", "exp": int(time.time()) - 10},
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithm="HS256",
    )
    assert_error(bearer(expired).get("/api/v1/billing/plans"), 401, "token_not_valid")


def test_token_without_exp_or_role_is_401(catalog):
    key = settings.SIMPLE_JWT["SIGNING_KEY"]
    no_exp = jwt.encode({"sub": "x", "role": "finance"}, key, algorithm="HS256")
    no_role = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, key, algorithm="HS256")
    tenant_without_id = jwt.encode({"sub": "x", "role": "tenant", "exp": int(time.time()) + 60}, key, algorithm="HS256")
    for token in (no_exp, no_role, tenant_without_id):
        assert_error(bearer(token).get("/api/v1/billing/plans"), 401)


def test_external_token_without_token_type_is_accepted(catalog):
    key = settings.SIMPLE_JWT["SIGNING_KEY"]
    token = jwt.encode(
        {"sub": "idp-1", "role": "tenant", "tenant_id": "acme", "exp": int(time.time()) + 60}, key, algorithm="HS256"
    )
    assert bearer(token).get("/api/v1/billing/plans").status_code == 200


@pytest.mark.parametrize("role,status", [("finance", 200), ("tenant", 200), ("service", 403)])
def test_roles_on_plans(api, catalog, role, status):
    resp = api(role, "acme" if role == "tenant" else None).get("/api/v1/billing/plans")
    assert resp.status_code == status
    if status == 403:
        assert_error(resp, 403, "permission_denied")


def test_unknown_route_404_and_wrong_method_405(finance, catalog):
    assert_error(finance.get("/api/v1/billing/nope"), 404, "not_found")
    assert_error(finance.delete("/api/v1/billing/plans"), 405, "method_not_allowed")


def test_malformed_json_is_400_in_the_error_shape(finance, catalog):
    resp = finance.post("/api/v1/billing/plans", data="{not json", content_type="application/json")
    assert resp.status_code in (400, 405)
    assert_error(resp, resp.status_code)


def test_token_endpoint_staff_gets_finance_and_user_gets_tenant(db, anon):
    from django.contrib.auth.models import User

    from billing.models import Tenant, TenantUser
    from billing_project.auth import principal_from_token

    User.objects.create_user("boss", password="pw-12345678", is_staff=True)
    u = User.objects.create_user("alice", password="pw-12345678")
    TenantUser.objects.create(user=u, tenant=Tenant.objects.create(id="acme"))
    User.objects.create_user("loner", password="pw-12345678")

    r = anon.post("/api/v1/auth/token", {"username": "boss", "password": "pw-12345678"}, format="json")
    assert r.status_code == 200
    assert principal_from_token(r.json()["access"]).role == "finance"
    r = anon.post("/api/v1/auth/token", {"username": "alice", "password": "pw-12345678"}, format="json")
    p = principal_from_token(r.json()["access"])
    assert (p.role, p.tenant_id) == ("tenant", "acme")
    refreshed = anon.post("/api/v1/auth/token/refresh", {"refresh": r.json()["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert principal_from_token(refreshed.json()["access"]).tenant_id == "acme"
    # a refresh token is not an access token
    assert_error(bearer(r.json()["refresh"]).get("/api/v1/billing/plans"), 401)
    assert_error(anon.post("/api/v1/auth/token", {"username": "alice", "password": "bad"}, format="json"), 401)
    assert_error(anon.post("/api/v1/auth/token", {"username": "loner", "password": "pw-12345678"}, format="json"), 403)


def test_health(anon):
    r = anon.get("/health")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"
    assert r.json()["broker"] in ("ok", "eager")


def test_schema_and_docs(anon):
    r = anon.get("/api/schema")
    assert r.status_code == 200
    assert b"/api/v1/billing/plans" in r.content
    assert b"bearerAuth" in r.content
    assert anon.get("/api/docs").status_code == 200


def test_every_contract_endpoint_is_in_the_schema(anon):
    """Every (method, path) of ../shared/spec/endpoints.tsv appears in /api/schema."""
    import csv
    import re
    from pathlib import Path

    import yaml

    spec = Path(__file__).resolve().parents[3] / "shared" / "spec" / "endpoints.tsv"
    if not spec.exists():
        pytest.skip(f"the contract's endpoint table is not beside the project ({spec})")
    paths = yaml.safe_load(anon.get("/api/schema").content)["paths"]
    to_param = lambda m: "{" + re.sub(r"([A-Z])", lambda c: "_" + c.group(1).lower(), m.group(1)) + "}"  # noqa: E731
    missing = []
    for row in csv.DictReader(spec.open(), delimiter="\t"):
        path = re.sub(r":(\w+)", to_param, row["path"])
        if row["method"].lower() not in paths.get(path, {}):
            missing.append(f"{row['method']} {path}")
    assert missing == []
