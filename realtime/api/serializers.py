"""Real-time cost and alerts in and out (contract section 8)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from rest_framework import serializers

from billing.models import Metric
from billing_project.errors import invalid
from billing_project.fields import DecimalStringField, InstantField, MoneyField, parse_instant
from costcenters.selectors import cost_center_live
from realtime.models import Alert


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
