"""A subscription's discount (a coupon code, or finance's ad-hoc terms) and credits: serializers, views and
routes."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.subscriptions import InstantInput, SubscriptionSerializer, subscription_data
from billing.models import CreditGrant, Discount, Subscription
from billing.services.credits import credit_grant_create
from billing.services.discounts import discount_apply
from billing_project.errors import NotFound, invalid
from billing_project.fields import InstantField, MoneyField
from billing_project.permissions import require_role, scope_to_caller
from coupons.services.redemptions import coupon_redeem

MAX_INT = 2_147_483_647


def _decimal_input() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=30, decimal_places=12, required=False, allow_null=True)


class DiscountRequestSerializer(serializers.Serializer):
    """Either `coupon_code`, or (finance only) ad-hoc terms."""

    coupon_code = serializers.CharField(max_length=200, required=False, trim_whitespace=False)
    percent_off = _decimal_input()
    amount_off = _decimal_input()
    duration = serializers.ChoiceField(choices=Discount.Duration.choices, required=False)
    duration_in_periods = serializers.IntegerField(min_value=1, max_value=MAX_INT, required=False, allow_null=True)

    AD_HOC = ("percent_off", "amount_off", "duration", "duration_in_periods")


class CreditGrantRequestSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=30, decimal_places=12)
    reason = serializers.CharField(max_length=255)
    expires_at = InstantInput(required=False, allow_null=True)


class CreditGrantSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    remaining = MoneyField()
    expires_at = InstantField(read_only=True, allow_null=True)
    created_at = InstantField(read_only=True)

    class Meta:
        model = CreditGrant
        fields = ["id", "amount", "remaining", "currency", "reason", "expires_at", "created_at"]


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


urlpatterns = [
    path(
        "subscriptions/<uuid:subscription_id>/discount",
        SubscriptionDiscountView.as_view(),
        name="subscription-discount",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/credits",
        SubscriptionCreditsView.as_view(),
        name="subscription-credits",
    ),
]
