"""/health/live answers while the process runs; /health/ready only when it can serve."""

from __future__ import annotations

import pytest
from django.test import Client

from billing_project import views

pytestmark = pytest.mark.django_db


def test_live_is_200_and_touches_nothing(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(views, "database_status", lambda: pytest.fail("live must not touch the database"))
    monkeypatch.setattr(views, "broker_status", lambda: pytest.fail("live must not touch the broker"))
    with django_assert_num_queries(0):
        r = Client().get("/health/live")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_ready_when_database_broker_and_migrations_are(settings):
    settings.CELERY_TASK_ALWAYS_EAGER, settings.CELERY_BROKER_URL = False, "redis://127.0.0.1:6379/5"
    r = Client().get("/health/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "database": "ok", "broker": "ok", "migrations": "ok"}


def test_not_ready_when_the_broker_is_down(settings, monkeypatch):
    from billing_project.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    for key in ("broker_url", "broker_write_url"):
        monkeypatch.setitem(app.conf, key, "redis://127.0.0.1:1/0")
    r = Client().get("/health/ready")
    assert r.status_code == 503
    assert r.json()["status"] == "not_ready" and r.json()["broker"] == "down"


def test_not_ready_while_migrations_are_pending(monkeypatch):
    class Pending:
        def __init__(self, connection):
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": lambda self: []})()})()

        def migration_plan(self, targets):
            return [("billing", "0099_new")]

    monkeypatch.setattr(views, "_migrations_applied", False)
    monkeypatch.setattr(views, "MigrationExecutor", Pending)
    r = Client().get("/health/ready")
    assert r.status_code == 503 and r.json()["migrations"] == "pending"


def test_not_ready_when_the_database_is_down(monkeypatch):
    monkeypatch.setattr(views, "database_status", lambda: "down")
    r = Client().get("/health/ready")
    assert r.status_code == 503
    assert r.json()["database"] == "down" and r.json()["migrations"] == "unknown"
    assert Client().get("/health/live").status_code == 200


def test_health_keeps_its_shape():
    r = Client().get("/health")
    assert set(r.json()) == {"status", "database", "broker"}


def test_probes_are_in_the_schema_under_operations(anon):
    paths = anon.get("/api/schema", HTTP_ACCEPT="application/json").json()["paths"]
    assert "/health/live" in paths and "/health/ready" in paths
