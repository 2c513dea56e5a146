"""Thin views: coupons (finance), validate/redeem (finance or the tenant itself), and a
subscription's discount and credits."""

from __future__ import annotations

from django.db.models.functions import Lower
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.subscriptions import SubscriptionSerializer, subscription_data
from billing.models import Plan, Subscription
from billing.services.credits import credit_grant_create
from billing.services.discounts import discount_apply
from billing_project.errors import NotFound, invalid
from billing_project.permissions import ensure_tenant_access, require_role, scope_to_caller
from coupons.api.serializers import (
    CouponCreateSerializer,
    CouponRedeemSerializer,
    CouponRedemptionSerializer,
    CouponSerializer,
    CouponValidateSerializer,
    CouponValidationSerializer,
    CreditGrantRequestSerializer,
    CreditGrantSerializer,
    DiscountRequestSerializer,
)
from coupons.models import Coupon
from coupons.selectors.coupons import coupon_list
from coupons.services.coupons import coupon_create, coupon_deactivate
from coupons.services.redemptions import coupon_redeem, coupon_validate


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


def _subscription(request, subscription_id) -> Subscription:
    qs = scope_to_caller(Subscription.objects.select_related("plan"), request)
    try:
        return qs.get(pk=subscription_id)
    except Subscription.DoesNotExist:
        raise NotFound(f"No subscription {subscription_id}.") from None


def subscription_answer(subscription: Subscription) -> dict:
    """Return the subscription object as the subscriptions API shows it (with discount and credit_balance)."""
    subscription.refresh_from_db()
    return subscription_data(subscription)


class SubscriptionDiscountView(APIView):
    """Apply a discount: a coupon code (any role that may touch the tenant) or ad-hoc terms (finance)."""

    allowed_roles = {"finance", "tenant"}

    @extend_schema(request=DiscountRequestSerializer, responses={200: SubscriptionSerializer})
    def post(self, request, subscription_id):
        data = DiscountRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        ad_hoc = [k for k in DiscountRequestSerializer.AD_HOC if body.get(k) is not None]
        if ad_hoc:
            require_role(request, "finance", detail="Only finance may apply an ad-hoc discount.")
        subscription = _subscription(request, subscription_id)
        if "coupon_code" in body:
            if ad_hoc:
                raise invalid(ad_hoc[0], "Give either coupon_code or ad-hoc terms, not both.", "invalid")
            coupon_redeem(code=body["coupon_code"], tenant_id=subscription.tenant_id, subscription=subscription)
        elif ad_hoc:
            if body.get("duration") is None:
                raise invalid("duration", "duration is required for an ad-hoc discount.", "required")
            discount_apply(
                subscription=subscription,
                percent_off=body.get("percent_off"),
                amount_off=body.get("amount_off"),
                duration=body["duration"],
                duration_in_periods=body.get("duration_in_periods"),
            )
        else:
            raise invalid("coupon_code", "Give coupon_code, or percent_off/amount_off with a duration.", "required")
        return Response(subscription_answer(subscription))


class SubscriptionCreditsView(APIView):
    """Grant credits to the subscription's tenant, in its currency; finance only."""

    allowed_roles = {"finance"}

    @extend_schema(request=CreditGrantRequestSerializer, responses={201: CreditGrantSerializer})
    def post(self, request, subscription_id):
        data = CreditGrantRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        subscription = _subscription(request, subscription_id)
        grant = credit_grant_create(
            subscription=subscription, amount=body["amount"], reason=body["reason"], expires_at=body.get("expires_at")
        )
        return Response(CreditGrantSerializer(grant).data, status=status.HTTP_201_CREATED)
