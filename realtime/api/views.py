"""Real-time cost endpoints (current, by-resource, timeline) and alerts (create, list, dismiss)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from billing_project.errors import NotFound, invalid
from billing_project.fields import format_instant
from billing_project.money import fmt
from billing_project.permissions import scope_to_caller
from realtime.api.serializers import (
    AlertCreateSerializer,
    AlertSerializer,
    CurrentCostSerializer,
    ResourceCostListSerializer,
    TimelineQuerySerializer,
    TimelineSerializer,
)
from realtime.models import Alert
from realtime.selectors.alerts import alert_list
from realtime.selectors.cost import (
    realtime_by_dimension,
    realtime_current,
    realtime_subscription,
    realtime_timeline,
)
from realtime.services.alerts import alert_create, alert_dismiss


class CurrentCostView(generics.GenericAPIView):
    """The current period's cost so far: the same numbers as the preview."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = CurrentCostSerializer

    def get(self, request, tenant_id):
        subscription = realtime_subscription(tenant_id=tenant_id)
        current = realtime_current(subscription=subscription, now=timezone.now())
        return Response(CurrentCostSerializer(current).data)


class CostByResourceView(generics.GenericAPIView):
    """The current period's usage cost split across resources by their share of each metric."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = ResourceCostListSerializer

    def get(self, request, tenant_id):
        subscription = realtime_subscription(tenant_id=tenant_id)
        parts = realtime_by_dimension(subscription=subscription, now=timezone.now(), dimension="resource_id")
        currency = subscription.currency
        results = [
            {"resource_id": p.key, "metric": p.metric, "quantity": p.quantity, "amount": p.amount, "currency": currency}
            for p in parts
        ]
        return Response(
            ResourceCostListSerializer({"tenant_id": tenant_id, "currency": currency, "results": results}).data
        )


class CostTimelineView(generics.GenericAPIView):
    """Usage cost per hour or day of the current period, with running totals."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = TimelineSerializer

    @extend_schema(
        responses={200: TimelineSerializer},
        parameters=[
            OpenApiParameter("granularity", OpenApiTypes.STR, enum=["hour", "day"]),
            OpenApiParameter("from", OpenApiTypes.DATETIME),
            OpenApiParameter("to", OpenApiTypes.DATETIME),
            OpenApiParameter("metric", OpenApiTypes.STR),
        ],
    )
    def get(self, request, tenant_id):
        query = TimelineQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        subscription = realtime_subscription(tenant_id=tenant_id)
        buckets = realtime_timeline(
            subscription=subscription,
            now=timezone.now(),
            granularity=q["granularity"],
            start=q.get("from"),
            end=q.get("to"),
            metric=q["metric"].code if q.get("metric") else None,
        )
        currency = subscription.currency
        # Built directly: an hourly timeline has hundreds of buckets, too many for a serializer per row.
        results = [
            {
                "bucket": format_instant(b.bucket),
                "amount": fmt(b.amount, currency),
                "cumulative_amount": fmt(b.cumulative_amount, currency),
            }
            for b in buckets
        ]
        return Response(
            {"tenant_id": tenant_id, "currency": currency, "granularity": q["granularity"], "results": results}
        )


class AlertListCreateView(generics.ListAPIView):
    """List the tenant's alerts (filter `?status=`) or configure a new one."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = AlertSerializer

    def get_queryset(self):
        return alert_list(
            tenant_id=self.kwargs.get("tenant_id", ""), status=self.request.query_params.get("status") or None
        )

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=list(Alert.Status.values))])
    def get(self, request, *args, **kwargs):
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in Alert.Status.values:
            raise invalid("status", f"Unknown status '{status_filter[:32]}'.", "invalid_choice")
        return super().get(request, *args, **kwargs)

    @extend_schema(request=AlertCreateSerializer, responses={201: AlertSerializer})
    def post(self, request, tenant_id):
        body = AlertCreateSerializer(data=request.data, context={"tenant_id": tenant_id})
        body.is_valid(raise_exception=True)
        alert = alert_create(tenant_id=tenant_id, **body.validated_data)
        return Response(AlertSerializer(alert).data, status=status.HTTP_201_CREATED)


class AlertDismissView(generics.GenericAPIView):
    """Dismiss an alert until the next period."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = AlertSerializer

    @extend_schema(request=None, responses={200: AlertSerializer})
    def post(self, request, alert_id):
        alert = scope_to_caller(Alert.objects.all(), request).filter(pk=alert_id).first()
        if alert is None:
            raise NotFound("No such alert.")
        return Response(AlertSerializer(alert_dismiss(alert=alert)).data)
