"""Security basics: login throttling (token endpoint and admin), CSP, separate secrets, docs behind auth."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import RequestFactory
from drf_spectacular.views import SpectacularAPIView
from rest_framework.test import APIClient

from billing_project import checks
from billing_project.auth import JWTAuthentication
from billing_project.permissions import DocsAccess
from tests.conftest import make_client

TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture
def staff(db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600
    cache.clear()
    yield User.objects.create_user("fin", password="right-password-123", is_staff=True, is_superuser=True)
    cache.clear()


def login(password: str, ip: str = "10.0.0.1"):
    return APIClient().post(TOKEN_URL, {"username": "fin", "password": password}, format="json", REMOTE_ADDR=ip)


def test_token_endpoint_locks_a_user_out_of_one_address_after_n_failures(staff):
    for _ in range(3):
        assert login("wrong").status_code == 401
    locked = login("right-password-123")  # even the right password, while locked out
    assert locked.status_code == 429
    assert 1 <= int(locked["Retry-After"]) <= 600
    assert locked.json()["errors"][0]["code"] == "throttled"
    assert login("right-password-123", ip="10.0.0.2").status_code == 200  # another address is not locked


def test_a_successful_login_clears_the_failures(staff):
    for _ in range(2):
        login("wrong")
    assert login("right-password-123").status_code == 200
    for _ in range(2):
        assert login("wrong").status_code == 401  # counted afresh: not locked after 4 failures in all
    assert login("right-password-123").status_code == 200


def test_admin_login_is_throttled_too(staff, client):
    for _ in range(3):
        resp = client.post("/admin/login/", {"username": "fin", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
        assert resp.status_code == 200  # the form again, with its error
    resp = client.post("/admin/login/", {"username": "fin", "password": "right-password-123"}, REMOTE_ADDR="10.0.0.9")
    assert resp.status_code == 429 and int(resp["Retry-After"]) > 0
    assert not client.session.get("_auth_user_id")


def test_admin_and_docs_pages_carry_a_content_security_policy(db, client):
    admin = client.get("/admin/login/")
    policy = admin["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "script-src 'self' https://cdn.jsdelivr.net" in docs["Content-Security-Policy"]
    assert b"<script>" not in docs.content  # the start-up script is served from /api/docs?script=
    assert client.get("/api/docs?script=").status_code == 200
    assert "Content-Security-Policy" not in make_client("finance").get("/api/v1/billing/plans")


def test_check_deploy_warns_when_the_django_secret_is_the_jwt_key_or_either_is_short(settings):
    settings.SECRET_KEY = settings.JWT_SIGNING_KEY = "x" * 64
    assert [w.id for w in checks.secret_keys_separate_check(None)] == ["billing.W002"]
    settings.SECRET_KEY, settings.JWT_SIGNING_KEY = "s" * 64, "short-key"
    assert [w.id for w in checks.secret_keys_separate_check(None)] == ["billing.W003"]
    settings.SECRET_KEY = "tiny"
    assert "billing.W004" in [w.id for w in checks.secret_keys_separate_check(None)]
    settings.SECRET_KEY, settings.JWT_SIGNING_KEY = "s" * 64, "j" * 64
    assert checks.secret_keys_separate_check(None) == []


def test_schema_and_docs_can_require_auth(staff):
    view = SpectacularAPIView.as_view(
        permission_classes=[DocsAccess],
        authentication_classes=[JWTAuthentication],
    )
    anonymous = view(RequestFactory().get("/api/schema"))
    assert anonymous.status_code == 401
    token = make_client("tenant", "acme")._credentials["HTTP_AUTHORIZATION"]
    assert view(RequestFactory().get("/api/schema", HTTP_AUTHORIZATION=token)).status_code == 200
