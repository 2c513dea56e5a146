"""Operational endpoints: GET /health, /health/live and /health/ready.

- `/health/live`: the process is up and serving (touches nothing else). For an orchestrator's
  liveness probe: failing it means "restart me", which a database outage must never cause.
- `/health/ready`: the database answers, the broker answers (or tasks run eagerly) and every
  migration is applied; 503 otherwise. For a load balancer's health check and an orchestrator's
  readiness probe: failing it means "send me no traffic for now".
- `/health`: as before (database and broker), kept for existing checks.
"""

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


def broker_status() -> str:
    """Return "eager" without a broker, else "ok" or "down" after a short ping."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    try:
        from billing_project.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:  # noqa: BLE001 - any broker failure is "down"
        return "down"


def database_status() -> str:
    """Return "ok" when the database answers a trivial query, else "down"."""
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return "ok"
    except Exception:  # noqa: BLE001
        return "down"


_migrations_applied = False  # once true, stays true for the process (nothing un-applies them)


def migrations_status() -> str:
    """Return "ok" when every migration is applied, "pending" when some are not, "unknown" on error."""
    global _migrations_applied
    if _migrations_applied:
        return "ok"
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:  # noqa: BLE001 - the database is down: readiness already fails on it
        return "unknown"
    _migrations_applied = not plan
    return "ok" if not plan else "pending"


class LiveView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(responses=inline_serializer("Live", {"status": serializers.CharField()}), tags=["operations"])
    def get(self, request):
        return Response({"status": "ok"})


class ReadyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        responses={
            (code, "application/json"): inline_serializer(
                "Ready",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "broker": serializers.CharField(),
                    "migrations": serializers.CharField(),
                },
            )
            for code in (200, 503)
        },
        tags=["operations"],
    )
    def get(self, request):
        database = database_status()
        checks = {
            "database": database,
            "broker": broker_status(),
            "migrations": migrations_status() if database == "ok" else "unknown",
        }
        ready = checks["database"] == "ok" and checks["broker"] in ("ok", "eager") and checks["migrations"] == "ok"
        return Response({"status": "ready" if ready else "not_ready", **checks}, status=200 if ready else 503)


class HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {"status": serializers.CharField(), "database": serializers.CharField(), "broker": serializers.CharField()},
        ),
        tags=["operations"],
    )
    def get(self, request):
        database = database_status()
        broker = broker_status()
        ok = database == "ok" and broker in ("ok", "eager")
        return Response(
            {"status": "ok" if ok else "degraded", "database": database, "broker": broker},
            status=200 if ok else 503,
        )
