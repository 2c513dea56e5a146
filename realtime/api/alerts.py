"""Cost alerts (contract section 8): create, list, dismiss; serializers, views and routes."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from billing.models import Metric
from billing_project.errors import NotFound, invalid
from billing_project.fields import DecimalStringField, InstantField
from billing_project.permissions import scope_to_caller
from billing_project.url_safety import validate_webhook_url
from costcenters.selectors.cost_centers import cost_center_live
from realtime.models import Alert
from realtime.selectors.alerts import alert_list
from realtime.services.alerts import alert_create, alert_dismiss


class AlertSerializer(serializers.ModelSerializer):
    """An alert as the API shows it (`cost_center` is the cost center's code)."""

    tenant_id = serializers.CharField(read_only=True)
    threshold = DecimalStringField()
    metric = serializers.CharField(source="metric_id", allow_null=True)
    cost_center = serializers.SerializerMethodField()
    cost_center_id = serializers.UUIDField(allow_null=True)
    value_at_trigger = DecimalStringField(allow_null=True)
    triggered_at = InstantField(allow_null=True)
    webhook_url = serializers.SerializerMethodField()
    period_start = InstantField(allow_null=True)
    created_at = InstantField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "tenant_id",
            "type",
            "threshold",
            "metric",
            "cost_center",
            "cost_center_id",
            "status",
            "triggered_at",
            "value_at_trigger",
            "webhook_url",
            "period_start",
            "created_at",
        ]
        read_only_fields = fields

    def get_cost_center(self, obj) -> str | None:
        return obj.cost_center.code if obj.cost_center_id else None

    def get_webhook_url(self, obj) -> str | None:
        return obj.webhook_url or None


class AlertCreateSerializer(serializers.Serializer):
    """The body of POST /realtime-cost/tenants/:tenantId/alerts."""

    type = serializers.ChoiceField(choices=Alert.Type.choices)
    threshold = DecimalStringField(min_value=Decimal(0))
    metric = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Metric.objects.all(),
        required=False,
        allow_null=True,
        error_messages={"does_not_exist": "Unknown metric '{value}'."},
    )
    cost_center = serializers.CharField(
        required=False, allow_null=True, max_length=64, help_text="The cost center's code (or id)."
    )
    webhook_url = serializers.URLField(required=False, allow_blank=True, allow_null=True, max_length=500)

    def validate_webhook_url(self, value: str | None) -> str:
        return validate_webhook_url(value, None) if value else ""

    def validate(self, attrs):
        tenant_id = self.context["tenant_id"]
        kind = attrs["type"]
        if kind == Alert.Type.USAGE_THRESHOLD:
            if not attrs.get("metric"):
                raise invalid("metric", "A usage_threshold alert needs a metric.", "required")
        elif attrs.get("metric"):
            raise invalid("metric", f"A {kind} alert has no metric.", "invalid")
        code = attrs.pop("cost_center", None)
        if kind == Alert.Type.BUDGET_PERCENT:
            if not code:
                raise invalid("cost_center", "A budget_percent alert needs a cost_center.", "required")
            centers = cost_center_live().filter(tenant_id=tenant_id)
            try:
                center = centers.filter(pk=uuid.UUID(code)).first()
            except ValueError:
                center = centers.filter(code=code).first()
            if center is None:
                raise invalid("cost_center", f"Unknown cost center '{code}' for this tenant.", "unknown_cost_center")
            if not center.budget:
                raise invalid("cost_center", f"Cost center '{center.code}' has no budget.", "no_budget")
            attrs["cost_center"] = center
        elif code:
            raise invalid("cost_center", f"A {kind} alert has no cost center.", "invalid")
        attrs["webhook_url"] = attrs.get("webhook_url") or ""
        return attrs


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


urlpatterns = [
    path("realtime-cost/tenants/<str:tenant_id>/alerts", AlertListCreateView.as_view(), name="realtime-alerts"),
    path("realtime-cost/alerts/<uuid:alert_id>/dismiss", AlertDismissView.as_view(), name="realtime-alert-dismiss"),
]
