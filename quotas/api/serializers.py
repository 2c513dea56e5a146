"""Quota and quota check in and out (contract section 8)."""

from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from billing.models import Metric
from billing.models.tenant import TENANT_ID_VALIDATOR
from billing_project.fields import DecimalStringField, InstantField
from quotas.models import Quota


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
    """The body of POST /quotas and PUT /quotas/:id (PUT may omit what it keeps)."""

    tenant_id = serializers.CharField(max_length=64, validators=[TENANT_ID_VALIDATOR])
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
