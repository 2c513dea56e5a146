"""Request and response shapes of the coupon endpoints and of a subscription's discount and credits."""

from __future__ import annotations

from rest_framework import serializers

from billing.models import CreditGrant
from billing_project.fields import InstantField, MoneyField, parse_instant, plain_decimal
from billing_project.money import fmt
from coupons.models import Coupon, CouponRedemption

DURATION_CHOICES = Coupon.Duration.choices
MAX_INT = 2_147_483_647


class Instant(InstantField):
    """An InstantField whose parse error names the field once (not "redeem_by.redeem_by")."""

    def to_internal_value(self, data):
        return parse_instant(data)


def _decimal_input(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=30, decimal_places=12, required=False, allow_null=True, **kwargs)


class CouponSerializer(serializers.ModelSerializer):
    """A coupon as the contract shows it: percent_off or amount_off (with its currency), the other null."""

    percent_off = serializers.SerializerMethodField()
    amount_off = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()
    redeem_by = InstantField(read_only=True)
    created_at = InstantField(read_only=True)
    applies_to_plans = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Coupon
        fields = [
            "id",
            "code",
            "name",
            "percent_off",
            "amount_off",
            "currency",
            "duration",
            "duration_in_periods",
            "max_redemptions",
            "times_redeemed",
            "redeem_by",
            "applies_to_plans",
            "active",
            "created_at",
        ]
        read_only_fields = fields

    def get_percent_off(self, obj) -> str | None:
        return plain_decimal(obj.percent_off) if obj.percent_off is not None else None

    def get_amount_off(self, obj) -> str | None:
        return fmt(obj.amount_off, obj.currency) if obj.amount_off is not None else None

    def get_currency(self, obj) -> str | None:
        return obj.currency or None


class CouponCreateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200, trim_whitespace=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    percent_off = _decimal_input()
    amount_off = _decimal_input()
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, allow_null=True)
    duration = serializers.ChoiceField(choices=DURATION_CHOICES, default=Coupon.Duration.ONCE)
    duration_in_periods = serializers.IntegerField(min_value=1, max_value=MAX_INT, required=False, allow_null=True)
    max_redemptions = serializers.IntegerField(min_value=1, max_value=MAX_INT, required=False, allow_null=True)
    redeem_by = Instant(required=False, allow_null=True)
    applies_to_plans = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_null=True, default=list
    )


class CouponValidateSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200, trim_whitespace=False)
    tenant_id = serializers.CharField(max_length=64)
    plan_id = serializers.CharField(max_length=64, required=False, allow_null=True)


class CouponValidationSerializer(serializers.Serializer):
    """The answer of validate."""

    valid = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    coupon = CouponSerializer(allow_null=True)


class CouponRedeemSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200, trim_whitespace=False)
    tenant_id = serializers.CharField(max_length=64)
    subscription_id = serializers.UUIDField(required=False, allow_null=True)


class CouponRedemptionSerializer(serializers.ModelSerializer):
    coupon_id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_at = InstantField(read_only=True)

    class Meta:
        model = CouponRedemption
        fields = ["id", "coupon_id", "tenant_id", "subscription_id", "created_at"]


class DiscountRequestSerializer(serializers.Serializer):
    """Either `coupon_code`, or (finance only) ad-hoc terms."""

    coupon_code = serializers.CharField(max_length=200, required=False, trim_whitespace=False)
    percent_off = _decimal_input()
    amount_off = _decimal_input()
    duration = serializers.ChoiceField(choices=DURATION_CHOICES, required=False)
    duration_in_periods = serializers.IntegerField(min_value=1, max_value=MAX_INT, required=False, allow_null=True)

    AD_HOC = ("percent_off", "amount_off", "duration", "duration_in_periods")


class CreditGrantRequestSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=30, decimal_places=12)
    reason = serializers.CharField(max_length=255)
    expires_at = Instant(required=False, allow_null=True)


class CreditGrantSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    remaining = MoneyField()
    expires_at = InstantField(read_only=True)
    created_at = InstantField(read_only=True)

    class Meta:
        model = CreditGrant
        fields = ["id", "amount", "remaining", "currency", "reason", "expires_at", "created_at"]
