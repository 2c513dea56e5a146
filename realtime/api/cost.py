"""Real-time cost (contract section 8): current, by-resource and timeline; serializers, views and routes."""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from billing.models import Metric
from billing_project.errors import invalid
from billing_project.fields import DecimalStringField, InstantField, MoneyField, format_instant, parse_instant
from billing_project.money import fmt
from realtime.selectors.cost import (
    realtime_by_dimension,
    realtime_current,
    realtime_subscription,
    realtime_timeline,
)


class MetricCostSerializer(serializers.Serializer):
    metric = serializers.CharField()
    quantity = DecimalStringField()
    amount = MoneyField()


class CurrentCostSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    currency = serializers.CharField()
    period_start = InstantField()
    period_end = InstantField()
    as_of = InstantField()
    base = MoneyField()
    usage = MoneyField()
    discount = MoneyField()
    total = MoneyField()
    by_metric = serializers.SerializerMethodField()

    def get_by_metric(self, obj) -> list[dict]:
        return MetricCostSerializer(
            [
                {"metric": m.metric, "quantity": m.quantity, "amount": m.amount, "currency": obj.currency}
                for m in obj.by_metric
            ],
            many=True,
        ).data


class ResourceCostSerializer(serializers.Serializer):
    resource_id = serializers.CharField(allow_null=True)
    metric = serializers.CharField()
    quantity = DecimalStringField()
    amount = MoneyField()


class ResourceCostListSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    currency = serializers.CharField()
    results = ResourceCostSerializer(many=True)


class QueryInstantField(InstantField):
    """An instant in a query string; its error is reported under the parameter's own name."""

    def to_internal_value(self, data):
        return parse_instant(data, None)


class TimelineQuerySerializer(serializers.Serializer):
    granularity = serializers.ChoiceField(choices=["hour", "day"], default="day")
    # "from" is a keyword; the field is renamed in __init__.
    from_ = QueryInstantField(required=False)
    to = QueryInstantField(required=False)
    metric = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Metric.objects.all(),
        required=False,
        error_messages={"does_not_exist": "Unknown metric '{value}'."},
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise invalid("to", "`to` must be after `from`.", "invalid_range")
        return attrs


class TimelineBucketSerializer(serializers.Serializer):
    bucket = InstantField()
    amount = MoneyField()
    cumulative_amount = MoneyField()


class TimelineSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    currency = serializers.CharField()
    granularity = serializers.CharField()
    results = TimelineBucketSerializer(many=True)


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


urlpatterns = [
    path("realtime-cost/tenants/<str:tenant_id>/current", CurrentCostView.as_view(), name="realtime-current"),
    path(
        "realtime-cost/tenants/<str:tenant_id>/by-resource", CostByResourceView.as_view(), name="realtime-by-resource"
    ),
    path("realtime-cost/tenants/<str:tenant_id>/timeline", CostTimelineView.as_view(), name="realtime-timeline"),
]
