"""Usage metering: record one event, record a batch (1–1,000, atomic), read the usage summary.

The POST views parse the body once with the API's parser (`parse_json`) and hand plain dicts to `usage_ingest`: no
serializer runs per event (the serializers below only document the shapes in /api/schema).
"""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Metric
from billing.selectors.usage import GROUP_BY, usage_by_metric, usage_default_range, usage_grouped
from billing.services.usage import MAX_BATCH, usage_ingest, validate_tenant_id
from billing_project.errors import invalid
from billing_project.fields import format_instant, parse_instant, plain_decimal
from billing_project.parsers import JsonTooDeep, json_depth_exceeds, parse_json
from billing_project.renderers import json_response


class UsageEventSerializer(serializers.Serializer):
    """One usage event (documentation of the request shape; validation is plain code)."""

    event_id = serializers.CharField(max_length=128)
    metric = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=30, decimal_places=12, required=False, min_value=0)
    timestamp = serializers.DateTimeField(required=False)
    resource_id = serializers.CharField(max_length=128, required=False, allow_null=True)
    cost_center = serializers.CharField(required=False, allow_null=True)
    properties = serializers.DictField(required=False)


class UsageBatchSerializer(serializers.Serializer):
    events = UsageEventSerializer(many=True, min_length=1, max_length=MAX_BATCH)


UsageRecordedSerializer = inline_serializer(
    "UsageRecorded", {"event_id": serializers.CharField(), "duplicate": serializers.BooleanField()}
)
UsageBatchResultSerializer = inline_serializer(
    "UsageBatchResult", {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()}
)
UsageSummarySerializer = inline_serializer(
    "UsageSummary",
    {
        "tenant_id": serializers.CharField(),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "results": inline_serializer(
            "UsageSummaryRow",
            {
                "metric": serializers.CharField(),
                "aggregation": serializers.CharField(),
                "quantity": serializers.CharField(),
                "events": serializers.IntegerField(),
                "bucket": serializers.DateTimeField(required=False),
                "resource_id": serializers.CharField(required=False, allow_null=True),
                "cost_center": serializers.CharField(required=False, allow_null=True),
            },
            many=True,
        ),
    },
)


class UsageRecordView(APIView):
    """Record one usage event (201 new, 200 duplicate)."""

    allowed_roles = {"finance", "tenant", "service"}

    @extend_schema(request=UsageEventSerializer, responses={201: UsageRecordedSerializer, 200: UsageRecordedSerializer})
    def post(self, request, tenant_id: str):
        event = parse_json(request.body)
        if not isinstance(event, dict):
            raise invalid(None, "The body must be a usage event object.", "invalid")
        result = usage_ingest(tenant_id=tenant_id, events=[event], batch=False)
        new = result.accepted == 1
        return json_response(
            request,
            {"event_id": event.get("event_id"), "duplicate": not new},
            status.HTTP_201_CREATED if new else status.HTTP_200_OK,
        )


class UsageBatchView(APIView):
    """Record 1 to 1,000 usage events atomically (duplicates are counted, not errors)."""

    allowed_roles = {"finance", "tenant", "service"}

    @extend_schema(request=UsageBatchSerializer, responses={200: UsageBatchResultSerializer})
    def post(self, request, tenant_id: str):
        raw = request.body
        body = parse_json(raw, check_depth=False)
        # A body of the events alone is handed over as sent, its depth checked only if the
        # statement that validates it does not take it (see usage_ingest).
        events = body.get("events") if isinstance(body, dict) else None
        plain = (
            isinstance(events, list)
            and len(body) == 1
            and 1 <= len(events) <= MAX_BATCH
            and all(type(e) is dict for e in events)
        )
        if not plain and json_depth_exceeds(body):
            raise JsonTooDeep()
        if not isinstance(events, list):
            raise invalid("events", 'Expected {"events": [...]} with 1 to 1000 events.', "invalid")
        result = usage_ingest(tenant_id=tenant_id, events=events, batch=True, body=raw if plain else None)
        return Response({"accepted": result.accepted, "duplicates": result.duplicates})


class UsageSummaryView(APIView):
    """Aggregated usage of a tenant over [from, to), by metric, day, hour, resource or cost center."""

    allowed_roles = {"finance", "tenant"}

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="ISO timestamp or date; default: current billing period"),
            OpenApiParameter("to", str, description="ISO timestamp or date (exclusive)"),
            OpenApiParameter("metric", str, description="only this metric code"),
            OpenApiParameter("group_by", str, enum=list(GROUP_BY), description="default metric"),
        ],
        responses={200: UsageSummarySerializer},
    )
    def get(self, request, tenant_id: str):
        validate_tenant_id(tenant_id)
        params = request.query_params
        group_by = params.get("group_by") or "metric"
        if group_by not in GROUP_BY:
            raise invalid("group_by", f"group_by is one of {', '.join(GROUP_BY)}.", "invalid_choice")
        start = parse_instant(params["from"], "from") if params.get("from") else None
        end = parse_instant(params["to"], "to") if params.get("to") else None
        if start is None or end is None:
            d_start, d_end = usage_default_range(tenant_id=tenant_id, now=timezone.now())
            start, end = start or d_start, end or d_end
        if start >= end:
            raise invalid("from", "'from' must be before 'to'.", "invalid_range")
        metrics = list(Metric.objects.all())
        code = params.get("metric")
        if code:
            metrics = [m for m in metrics if m.code == code]
            if not metrics:
                raise invalid("metric", f"Unknown metric '{code[:64]}'.", "unknown_metric")
        if group_by == "metric":
            usage = usage_by_metric(tenant_id=tenant_id, start=start, end=end, metrics=metrics)
            results = [
                {
                    "metric": u.metric,
                    "aggregation": u.aggregation,
                    "quantity": plain_decimal(u.quantity),
                    "events": u.events,
                }
                for u in (usage[m.code] for m in metrics)
            ]
        else:
            field = {"day": "bucket", "hour": "bucket", "resource": "resource_id", "cost_center": "cost_center"}[
                group_by
            ]
            results = []
            for g in usage_grouped(tenant_id=tenant_id, start=start, end=end, group_by=group_by, metrics=metrics):
                key = format_instant(g.key) if field == "bucket" else g.key
                results.append(
                    {
                        "metric": g.metric,
                        "aggregation": g.aggregation,
                        "quantity": plain_decimal(g.quantity),
                        "events": g.events,
                        field: key,
                    }
                )
        return Response(
            {"tenant_id": tenant_id, "from": format_instant(start), "to": format_instant(end), "results": results}
        )


urlpatterns = [
    path("tenants/<str:tenant_id>/usage", UsageRecordView.as_view(), name="usage-record"),
    path("tenants/<str:tenant_id>/usage/batch", UsageBatchView.as_view(), name="usage-batch"),
    path("tenants/<str:tenant_id>/usage/summary", UsageSummaryView.as_view(), name="usage-summary"),
]
