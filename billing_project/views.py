"""Operational endpoints: GET /health."""

from django.conf import settings
from django.db import connection
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
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT 1")
            database = "ok"
        except Exception:  # noqa: BLE001
            database = "down"
        broker = broker_status()
        ok = database == "ok" and broker in ("ok", "eager")
        return Response(
            {"status": "ok" if ok else "degraded", "database": database, "broker": broker},
            status=200 if ok else 503,
        )
