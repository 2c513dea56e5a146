"""Coupons (finance), and validate/redeem (finance or the tenant itself): serializers, views and routes.

`coupons/validate` and `coupons/redeem` come before the `coupons/<uuid>` routes.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db.models.functions import Lower
from django.urls import path
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Plan, Subscription
from billing_project.errors import NotFound, invalid
from billing_project.fields import InstantField, TenantIdField, parse_instant, plain_decimal
from billing_project.money import fmt
from billing_project.permissions import ensure_body_tenant_access, ensure_tenant_access
from coupons.models import Coupon, CouponRedemption
from coupons.selectors.coupons import coupon_list
from coupons.services.coupons import CODE_RE, coupon_create, coupon_deactivate
from coupons.services.redemptions import coupon_redeem, coupon_validate

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
    redeem_by = InstantField(read_only=True, allow_null=True)
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
    code = serializers.CharField(
        max_length=64,
        trim_whitespace=False,
        validators=[RegexValidator(CODE_RE, "A code is 3–64 characters of A–Z, a–z, 0–9, '_' and '-'.", "invalid")],
    )
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
    tenant_id = TenantIdField()
    plan_id = serializers.CharField(max_length=64, required=False, allow_null=True)


class CouponValidationSerializer(serializers.Serializer):
    """The answer of validate."""

    valid = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    coupon = CouponSerializer(allow_null=True)


class CouponRedeemSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200, trim_whitespace=False)
    tenant_id = TenantIdField()
    subscription_id = serializers.UUIDField(required=False, allow_null=True)


class CouponRedemptionSerializer(serializers.ModelSerializer):
    coupon_id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_at = InstantField(read_only=True)

    class Meta:
        model = CouponRedemption
        fields = ["id", "coupon_id", "tenant_id", "subscription_id", "created_at"]


class CouponFilter(filters.FilterSet):
    active = filters.ChoiceFilter(
        choices=[(v, v) for v in ("true", "false", "1", "0")], method="filter_active", help_text="true or false."
    )
    code = filters.CharFilter(method="filter_code", help_text="Exact code, any case.")

    class Meta:
        model = Coupon
        fields = ["active", "code"]

    def filter_active(self, queryset, name, value):
        return queryset.filter(active=value in ("true", "1"))

    def filter_code(self, queryset, name, value):
        return queryset.alias(code_lower=Lower("code")).filter(code_lower=value.lower())


class CouponListCreateView(generics.ListCreateAPIView):
    """List coupons (filters `?active=`, `?code=`) or create one; finance only."""

    allowed_roles = {"finance"}
    serializer_class = CouponSerializer
    filterset_class = CouponFilter

    def get_queryset(self):
        return coupon_list()

    @extend_schema(request=CouponCreateSerializer, responses={201: CouponSerializer})
    def post(self, request, *args, **kwargs):
        data = CouponCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        coupon = coupon_create(**data.validated_data)
        return Response(CouponSerializer(coupon).data, status=status.HTTP_201_CREATED)


def _coupon(coupon_id) -> Coupon:
    try:
        return Coupon.objects.get(pk=coupon_id)
    except Coupon.DoesNotExist:
        raise NotFound(f"No coupon {coupon_id}.") from None


class CouponDetailView(generics.RetrieveAPIView):
    """Get one coupon; finance only."""

    allowed_roles = {"finance"}
    serializer_class = CouponSerializer

    def get_object(self):
        return _coupon(self.kwargs["coupon_id"])


class CouponDeactivateView(APIView):
    """Deactivate a coupon (no further redemptions; discounts already given stay); finance only."""

    allowed_roles = {"finance"}

    @extend_schema(request=None, responses={200: CouponSerializer})
    def post(self, request, coupon_id):
        coupon = coupon_deactivate(coupon=_coupon(coupon_id))
        return Response(CouponSerializer(coupon).data)


class CouponValidateView(APIView):
    """Say whether a tenant may redeem a code, and if not the first reason why."""

    allowed_roles = {"finance", "tenant"}

    @extend_schema(request=CouponValidateSerializer, responses={200: CouponValidationSerializer})
    def post(self, request):
        ensure_body_tenant_access(request)
        data = CouponValidateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        ensure_tenant_access(request, body["tenant_id"])
        plan = None
        if body.get("plan_id"):
            plan = Plan.objects.filter(pk=body["plan_id"]).first()
            if plan is None:
                raise invalid("plan_id", f"No plan '{body['plan_id']}'.", "does_not_exist")
        coupon, reason = coupon_validate(code=body["code"], tenant_id=body["tenant_id"], plan=plan)
        return Response(
            {
                "valid": reason is None,
                "reason": reason,
                "coupon": CouponSerializer(coupon).data if coupon is not None else None,
            }
        )


class CouponRedeemView(APIView):
    """Redeem a code for a tenant: the redemption, and the coupon's discount on its live subscription."""

    allowed_roles = {"finance", "tenant"}

    @extend_schema(
        request=CouponRedeemSerializer,
        responses={
            201: CouponRedemptionSerializer,
            409: OpenApiResponse(description="Invalid code: the error code is the reason, or no_subscription."),
        },
    )
    def post(self, request):
        ensure_body_tenant_access(request)
        data = CouponRedeemSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        ensure_tenant_access(request, body["tenant_id"])
        subscription = None
        if body.get("subscription_id"):
            subscription = (
                Subscription.objects.select_related("plan")
                .filter(pk=body["subscription_id"], tenant_id=body["tenant_id"])
                .first()
            )
            if subscription is None:
                raise invalid("subscription_id", "No such subscription for this tenant.", "does_not_exist")
        redemption = coupon_redeem(code=body["code"], tenant_id=body["tenant_id"], subscription=subscription)
        return Response(CouponRedemptionSerializer(redemption).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("coupons", CouponListCreateView.as_view(), name="coupon-list"),
    path("coupons/validate", CouponValidateView.as_view(), name="coupon-validate"),
    path("coupons/redeem", CouponRedeemView.as_view(), name="coupon-redeem"),
    path("coupons/<uuid:coupon_id>", CouponDetailView.as_view(), name="coupon-detail"),
    path("coupons/<uuid:coupon_id>/deactivate", CouponDeactivateView.as_view(), name="coupon-deactivate"),
]
