"""Quotas (contract section 8): create, list, check, get, update, delete; serializers, views and routes."""

from __future__ import annotations

from decimal import Decimal

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from billing.models import Metric
from billing_project.errors import NotFound, invalid, require_fields
from billing_project.fields import DecimalStringField, InstantField, TenantIdField
from billing_project.permissions import ensure_body_tenant_access, ensure_tenant_access, scope_to_caller
from quotas.models import Quota
from quotas.selectors.quotas import quota_checks, quota_list
from quotas.services.quotas import quota_create, quota_delete, quota_update


class QuotaSerializer(serializers.ModelSerializer):
    """A quota as the API shows it."""

    tenant_id = serializers.CharField(read_only=True)
    metric = serializers.CharField(source="metric_id", read_only=True)
    limit = DecimalStringField(read_only=True)
    warn_at_percent = DecimalStringField(read_only=True)
    created_at = InstantField(read_only=True)
    updated_at = InstantField(read_only=True)

    class Meta:
        model = Quota
        fields = [
            "id",
            "tenant_id",
            "metric",
            "limit",
            "period",
            "enforcement",
            "warn_at_percent",
            "created_at",
            "updated_at",
        ]


class QuotaWriteSerializer(serializers.Serializer):
    """The body of POST /quotas and PUT /quotas/:id (PUT needs metric and limit; optional fields left out keep
    their value)."""

    tenant_id = TenantIdField()
    metric = serializers.SlugRelatedField(
        slug_field="code", queryset=Metric.objects.all(), error_messages={"does_not_exist": "Unknown metric '{value}'."}
    )
    limit = DecimalStringField(min_value=Decimal("0.000000000001"))
    period = serializers.ChoiceField(choices=Quota.Period.choices, default=Quota.Period.MONTH)
    enforcement = serializers.ChoiceField(choices=Quota.Enforcement.choices, default=Quota.Enforcement.SOFT)
    warn_at_percent = serializers.DecimalField(
        max_digits=6, decimal_places=2, min_value=Decimal(0), max_value=Decimal(100), default=Decimal(80)
    )


class QuotaCheckItemSerializer(serializers.Serializer):
    quota_id = serializers.UUIDField(source="quota.id")
    metric = serializers.CharField(source="quota.metric_id")
    limit = DecimalStringField(source="quota.limit")
    used = DecimalStringField()
    remaining = DecimalStringField()
    utilization_percent = DecimalStringField()
    status = serializers.ChoiceField(choices=["ok", "warning", "exceeded"])
    period_start = InstantField()
    period_end = InstantField()
    enforcement = serializers.CharField(source="quota.enforcement")


class QuotaCheckSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    results = QuotaCheckItemSerializer(many=True)


class QuotaCreateView(generics.GenericAPIView):
    """Create a quota for the tenant named in the body."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = QuotaSerializer

    @extend_schema(request=QuotaWriteSerializer, responses={201: QuotaSerializer})
    def post(self, request):
        ensure_body_tenant_access(request)
        body = QuotaWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ensure_tenant_access(request, body.validated_data["tenant_id"])
        quota = quota_create(**body.validated_data)
        return Response(QuotaSerializer(quota).data, status=status.HTTP_201_CREATED)


class QuotaListView(generics.ListAPIView):
    """List the tenant's quotas."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = QuotaSerializer

    def get_queryset(self):
        return quota_list(tenant_id=self.kwargs.get("tenant_id", ""))


class QuotaCheckView(generics.GenericAPIView):
    """Measure each of the tenant's quotas (or one metric's) over its current window."""

    allowed_roles = {"finance", "tenant", "service"}
    serializer_class = QuotaCheckSerializer

    @extend_schema(
        parameters=[OpenApiParameter("metric", OpenApiTypes.STR, description="Only this metric's quotas.")],
        responses={200: QuotaCheckSerializer},
    )
    def get(self, request, tenant_id):
        metric = request.query_params.get("metric") or None
        if metric is not None and not Metric.objects.filter(code=metric).exists():
            raise invalid("metric", f"Unknown metric '{metric[:64]}'.", "unknown_metric")
        checks = quota_checks(tenant_id=tenant_id, now=timezone.now(), metric=metric)
        return Response(QuotaCheckSerializer({"tenant_id": tenant_id, "results": checks}).data)


class QuotaDetailView(generics.GenericAPIView):
    """Update or delete one quota."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = QuotaSerializer

    def get_object(self):
        quota = (
            scope_to_caller(Quota.objects.select_related("metric"), self.request)
            .filter(pk=self.kwargs["quota_id"])
            .first()
        )
        if quota is None:
            raise NotFound("No such quota.")
        return quota

    @extend_schema(request=QuotaWriteSerializer, responses={200: QuotaSerializer})
    def put(self, request, quota_id):
        quota = self.get_object()
        require_fields(request.data, "metric", "limit")
        body = QuotaWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if data.pop("tenant_id", quota.tenant_id) != quota.tenant_id:
            raise invalid("tenant_id", "A quota cannot move to another tenant.", "tenant_id_immutable")
        quota = quota_update(quota=quota, **data)
        return Response(QuotaSerializer(quota).data)

    @extend_schema(responses={204: None})
    def delete(self, request, quota_id):
        quota_delete(quota=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("quotas", QuotaCreateView.as_view(), name="quota-create"),
    path("quotas/tenants/<str:tenant_id>", QuotaListView.as_view(), name="quota-list"),
    path("quotas/tenants/<str:tenant_id>/check", QuotaCheckView.as_view(), name="quota-check"),
    path("quotas/<uuid:quota_id>", QuotaDetailView.as_view(), name="quota-detail"),
]
