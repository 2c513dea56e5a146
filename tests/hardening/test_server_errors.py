"""Defects 5 and 6 of issue 12: an unexpected error is logged once with its traceback; an unreachable
database answers 503 `service_unavailable` with Retry-After, in the error shape."""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import InterfaceError, connection
from rest_framework.test import APIClient

from billing_project.auth import issue_token
from tests.billing_project.test_auth_and_errors import assert_error

PLANS = "/api/v1/billing/plans"


def _client(role="finance", tenant_id=None) -> APIClient:
    client = APIClient(raise_request_exception=False)  # answer like a served instance, don't re-raise
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(sub='t', role=role, tenant_id=tenant_id)}")
    return client


def _boom(*args, **kwargs):
    raise RuntimeError("boom in the plan list")


@pytest.mark.django_db
def test_unexpected_error_is_500_and_logged_once_with_its_traceback(monkeypatch, caplog, catalog):
    monkeypatch.setattr("billing.api.plans.PlanListView.get_queryset", _boom)
    with caplog.at_level(logging.WARNING):
        resp = _client().get(PLANS)
    assert_error(resp, 500)
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.exc_info and isinstance(record.exc_info[1], RuntimeError)
    assert "boom in the plan list" in caplog.text and "Traceback" in caplog.text
    assert "_boom" in caplog.text  # the frame that raised, not the converted APIException


@pytest.mark.django_db
def test_connection_lost_mid_request_is_503(monkeypatch, catalog):
    def lost(*args, **kwargs):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr("billing.api.plans.PlanListView.get_queryset", lost)
    resp = _client().get(PLANS)
    assert_error(resp, 503, "service_unavailable")
    assert resp["Retry-After"] == "5"


@pytest.fixture
def database_down(transactional_db):
    """Point the connection at a closed port (PostgreSQL down) for the test, then restore it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_database_down_is_503_with_retry_after(database_down, settings):
    settings.RETRY_AFTER_SECONDS = 7
    reads = _client().get(PLANS)  # DRF view: the exception handler
    assert_error(reads, 503, "service_unavailable")
    assert reads["Retry-After"] == "7"
    usage = _client("service").post(
        "/api/v1/billing/tenants/acme/usage",
        {"event_id": "e1", "metric": "api_calls"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",  # the Idempotency-Key layer reaches the database before any view
    )
    assert_error(usage, 503, "service_unavailable")
    assert usage["Retry-After"] == "7"
