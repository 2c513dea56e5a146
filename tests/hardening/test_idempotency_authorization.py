"""Defect 1 of issue 12: a replayed answer never skips authorization and never crosses principals."""

from __future__ import annotations

from io import StringIO

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command

from billing.models import UsageEvent
from coupons.models import Coupon
from tests.conftest import make_client

pytestmark = pytest.mark.django_db
USAGE = "/api/v1/billing/tenants/acme/usage"
EVENT = {"event_id": "idem-auth-1", "metric": "api_calls", "quantity": "3"}


def _post(client, path, body, key="same-key"):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_foreign_tenant_with_the_same_sub_and_key_gets_403_not_the_replay(catalog):
    first = _post(make_client("tenant", "acme", sub="cli-tenant"), USAGE, EVENT)
    assert first.status_code == 201
    second = _post(make_client("tenant", "globex", sub="cli-tenant"), USAGE, EVENT)
    assert second.status_code == 403, second.content
    assert second.json()["errors"][0]["code"] == "permission_denied"
    assert "Idempotent-Replayed" not in second


def test_another_role_with_the_same_sub_and_key_runs_its_own_request(catalog):
    assert _post(make_client("tenant", "acme", sub="shared"), USAGE, EVENT).status_code == 201
    service = _post(make_client("service", sub="shared"), USAGE, EVENT)
    assert "Idempotent-Replayed" not in service
    assert (service.status_code, service.json()["duplicate"]) == (200, True)  # its own run: a duplicate event
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 1


def test_a_role_refused_by_the_endpoint_gets_403_not_the_replay(catalog):
    body = {"code": "IDEM10", "percent_off": "10", "duration": "once"}
    created = _post(make_client("finance", sub="shared"), "/api/v1/billing/coupons", body)
    assert created.status_code == 201, created.content
    refused = _post(make_client("tenant", "acme", sub="shared"), "/api/v1/billing/coupons", body)
    assert refused.status_code == 403
    assert Coupon.objects.count() == 1


def test_permissions_are_checked_before_the_replay_of_the_same_principal(catalog, monkeypatch):
    from billing.api.usage import UsageRecordView

    client = make_client("service", sub="svc-1")
    assert _post(client, USAGE, EVENT).status_code == 201
    assert _post(client, USAGE, EVENT)["Idempotent-Replayed"] == "true"
    monkeypatch.setattr(UsageRecordView, "allowed_roles", {"finance", "tenant"})  # service access withdrawn
    withdrawn = _post(client, USAGE, EVENT)
    assert withdrawn.status_code == 403
    assert "Idempotent-Replayed" not in withdrawn


def test_an_expired_token_gets_401_not_the_replay(catalog):
    from rest_framework.test import APIClient

    assert _post(make_client("service", sub="svc-2"), USAGE, EVENT).status_code == 201
    expired = jwt.encode(
        {"sub": "svc-2", "role": "service", "exp": 1_000_000_000}, settings.SIMPLE_JWT["SIGNING_KEY"], "HS256"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {expired}")
    assert _post(client, USAGE, EVENT).status_code == 401


def _claims(*args):
    out = StringIO()
    call_command("issue_token", *args, stdout=out)
    return jwt.decode(out.getvalue().strip(), settings.SIMPLE_JWT["SIGNING_KEY"], algorithms=["HS256"])


def test_issue_token_gives_each_token_its_own_sub_unless_asked():
    a, b = _claims("--role", "tenant", "--tenant", "acme"), _claims("--role", "tenant", "--tenant", "acme")
    assert a["sub"] != b["sub"]
    assert a["sub"].startswith("cli-tenant-")
    assert _claims("--role", "service", "--sub", "ingest-bot")["sub"] == "ingest-bot"
