"""Structured logs: the request id in and out, who and what each line is about, task context."""

from __future__ import annotations

import logging

import pytest
from celery import shared_task
from django.test import Client

from billing_project.observability.logformat import text_formatter

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing/tenants"


@shared_task(name="tests.observability.log_work")
def log_work(invoice_id: str, subscription_ids: list[str]) -> None:
    logging.getLogger("tests.observability").warning("working on %s", invoice_id)


def _request_lines(lines, path):
    return [line for line in lines if line.get("logger") == "billing.request" and line.get("path") == path]


def test_request_id_sent_in_is_logged_and_returned(catalog, service, json_log):
    r = service.get(f"{BASE}/acme/usage/summary", HTTP_X_REQUEST_ID="req-abc.123")
    assert r.status_code in (200, 403)
    assert r["X-Request-ID"] == "req-abc.123"
    [line] = _request_lines(json_log(), f"{BASE}/acme/usage/summary")
    assert line["request_id"] == "req-abc.123"
    assert line["status"] == r.status_code
    assert line["method"] == "GET"


def test_request_line_carries_tenant_principal_status_and_duration(catalog, api, json_log):
    client = api("tenant", "acme")
    r = client.post(
        f"{BASE}/acme/usage", {"event_id": "log-1", "metric": "api_calls"}, format="json", HTTP_X_REQUEST_ID="r-1"
    )
    assert r.status_code in (201, 403), r.content
    [line] = _request_lines(json_log(), f"{BASE}/acme/usage")
    assert line["tenant_id"] == "acme"
    assert line["sub"] == "test-tenant-acme" and line["role"] == "tenant"
    assert line["status"] == r.status_code
    assert line["duration_ms"] > 0
    assert line["level"] == "INFO" and "timestamp" in line


def test_a_request_id_is_generated_when_missing_or_unusable(json_log):
    plain = Client().get("/health/live")
    odd = Client().get("/health/live", HTTP_X_REQUEST_ID="bad id\nwith newline" + "x" * 200)
    assert len(plain["X-Request-ID"]) == 32
    assert odd["X-Request-ID"] != plain["X-Request-ID"] and "\n" not in odd["X-Request-ID"]
    ids = [line["request_id"] for line in _request_lines(json_log(), "/health/live")]
    assert ids == [plain["X-Request-ID"], odd["X-Request-ID"]]


def test_lines_logged_during_a_request_carry_its_id_and_tracebacks_survive(json_log):
    from billing_project.observability.logformat import log_context

    token = log_context.set({"request_id": "rid-7", "path": "/x"})
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("billing.test").exception("it broke")
    finally:
        log_context.reset(token)
    [line] = [line for line in json_log() if line["logger"] == "billing.test"]
    assert line["request_id"] == "rid-7" and line["message"] == "it broke"
    assert "Traceback" in line["exc_info"] and "RuntimeError: boom" in line["exc_info"]
    assert "task_id" not in line  # absent context is left out, not null


def test_task_lines_carry_task_id_name_and_the_ids_they_act_on(json_log):
    result = log_work.apply(args=["inv_42", ["sub_1", "sub_2"]], headers={"request_id": "queued-by-r9"})
    [line] = [line for line in json_log() if line["logger"] == "tests.observability"]
    assert line["task_id"] == result.id
    assert line["task_name"] == "tests.observability.log_work"
    assert line["task_args"] == ["inv_42", "['sub_1', 'sub_2']"]
    assert line["request_id"] == "queued-by-r9"


def test_publishing_a_task_passes_the_request_id_on():
    from billing_project.observability.celery_hooks import _publish_request_id
    from billing_project.observability.logformat import log_context

    headers: dict = {}
    token = log_context.set({"request_id": "r-pub"})
    try:
        _publish_request_id(headers=headers)
    finally:
        log_context.reset(token)
    assert headers == {"request_id": "r-pub"}


def test_an_eager_task_inside_a_request_gives_the_request_its_context_back(json_log):
    from billing_project.observability.logformat import log_context

    token = log_context.set({"request_id": "outer", "path": "/p"})
    try:
        log_work.apply(args=["inv_1", []])
        logging.getLogger("billing.after").warning("after the task")
    finally:
        log_context.reset(token)
    lines = {line["logger"]: line for line in json_log()}
    assert lines["tests.observability"]["request_id"] == "outer"
    assert "task_id" not in lines["billing.after"] and lines["billing.after"]["request_id"] == "outer"


def test_text_format_names_the_request_or_task():
    record = logging.LogRecord("billing.x", logging.WARNING, __file__, 1, "hello", None, None)
    record.request_id, record.task_id = "rid-1", None
    assert "billing.x [rid-1] hello" in text_formatter().format(record)
    record.request_id, record.task_id = None, "t-9"
    assert "[task t-9] hello" in text_formatter().format(record)
