"""A subscription's one-off charges and price overrides (contract section 14).

POST/GET /subscriptions/:id/charges, DELETE /subscriptions/:id/charges/:chargeId, and
GET/PUT/DELETE /subscriptions/:id/price-overrides. Writes are finance's; the tenant may read its own.
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.plans import charge_pricing_data
from billing.models import OneOffCharge, PriceOverride, Subscription
from billing.services.terms import (
    one_off_charge_create,
    one_off_charge_delete,
    price_override_remove,
    price_override_set,
)
from billing_project.errors import NotFound
from billing_project.fields import DecimalStringField, InstantField, MoneyField, format_instant
from billing_project.money import fmt, fmt_price
from billing_project.permissions import require_role, scope_to_caller

ROLES = {"finance", "tenant"}


def _subscription(request, subscription_id) -> Subscription:
    """Return the subscription in the path, 404 when unknown or another tenant's."""
    sub = scope_to_caller(Subscription.objects.select_related("plan"), request).filter(pk=subscription_id).first()
    if sub is None:
        raise NotFound("No such subscription.")
    return sub


class OneOffChargeSerializer(serializers.ModelSerializer):
    subscription_id = serializers.UUIDField(read_only=True)
    quantity = DecimalStringField(read_only=True)
    unit_price = serializers.SerializerMethodField()
    amount = MoneyField()
    invoice_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_at = InstantField(read_only=True)

    class Meta:
        model = OneOffCharge
        fields = [
            "id",
            "subscription_id",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "currency",
            "status",
            "invoice_id",
            "created_at",
        ]

    def get_unit_price(self, obj) -> str:
        return fmt_price(obj.unit_price, obj.currency)


class OneOffChargeCreateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=255)
    amount = serializers.DecimalField(max_digits=30, decimal_places=12, required=False, allow_null=True)
    quantity = serializers.DecimalField(
        max_digits=30, decimal_places=12, required=False, allow_null=True, min_value=Decimal(0)
    )
    unit_price = serializers.DecimalField(
        max_digits=30, decimal_places=12, required=False, allow_null=True, min_value=Decimal(0)
    )

    def validate(self, attrs):
        has_amount = attrs.get("amount") is not None
        has_parts = attrs.get("quantity") is not None or attrs.get("unit_price") is not None
        if has_amount == has_parts or (
            has_parts and (attrs.get("quantity") is None or attrs.get("unit_price") is None)
        ):
            raise serializers.ValidationError(
                {"amount": ["Give either amount, or quantity and unit_price."]}, code="required"
            )
        if has_amount and attrs["amount"] < 0:
            raise serializers.ValidationError({"amount": ["An amount must not be negative."]}, code="min_value")
        return attrs


class SubscriptionChargesView(generics.ListAPIView):
    """List a subscription's one-off charges (finance, or the tenant) or add one (finance)."""

    allowed_roles = ROLES
    serializer_class = OneOffChargeSerializer

    def get_queryset(self):
        sub = _subscription(self.request, self.kwargs["subscription_id"])
        return OneOffCharge.objects.filter(subscription=sub).order_by("-created_at", "-id")

    @extend_schema(request=OneOffChargeCreateSerializer, responses={201: OneOffChargeSerializer})
    def post(self, request, subscription_id):
        require_role(request, "finance", detail="Only finance may add one-off charges.")
        sub = _subscription(request, subscription_id)
        body = OneOffChargeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        charge = one_off_charge_create(subscription=sub, **body.validated_data)
        return Response(OneOffChargeSerializer(charge).data, status=status.HTTP_201_CREATED)


class SubscriptionChargeView(APIView):
    """Remove a pending one-off charge (finance); an invoiced one is 409."""

    allowed_roles = {"finance"}

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, subscription_id, charge_id):
        sub = _subscription(request, subscription_id)
        charge = OneOffCharge.objects.filter(subscription=sub, pk=charge_id).first()
        if charge is None:
            raise NotFound("No such one-off charge.")
        one_off_charge_delete(charge=charge)
        return Response(status=status.HTTP_204_NO_CONTENT)


def override_data(override: PriceOverride, currency: str) -> dict:
    """Return the contract's price-override object."""
    return {
        "subscription_id": str(override.subscription_id),
        "plan_id": override.plan_id,
        "base_price": None if override.base_price is None else fmt(override.base_price, currency),
        "charges": [{"metric": c["metric"], **charge_pricing_data(c, currency)} for c in override.charges or []],
        "started_at": format_instant(override.started_at),
        "updated_at": format_instant(override.updated_at),
    }


class PriceOverrideSerializer(serializers.Serializer):
    """The price-override object (documentation of its shape)."""

    subscription_id = serializers.UUIDField()
    plan_id = serializers.CharField()
    base_price = serializers.CharField(allow_null=True)
    charges = serializers.ListField(child=serializers.DictField())
    started_at = serializers.CharField()
    updated_at = serializers.CharField()


class PriceOverrideInSerializer(serializers.Serializer):
    base_price = serializers.DecimalField(max_digits=20, decimal_places=4, required=False, allow_null=True)
    charges = serializers.ListField(child=serializers.JSONField(), required=False, allow_null=True)


class PriceOverridesView(APIView):
    """Get (finance, or the tenant), set or remove (finance) a subscription's negotiated prices."""

    allowed_roles = ROLES

    @extend_schema(responses=PriceOverrideSerializer)
    def get(self, request, subscription_id):
        sub = _subscription(request, subscription_id)
        override = PriceOverride.objects.filter(subscription=sub, ended_at__isnull=True).first()
        if override is None:
            raise NotFound("The subscription has no price override.")
        return Response(override_data(override, sub.currency))

    @extend_schema(request=PriceOverrideInSerializer, responses=PriceOverrideSerializer)
    def put(self, request, subscription_id):
        require_role(request, "finance", detail="Only finance may set negotiated prices.")
        sub = _subscription(request, subscription_id)
        body = PriceOverrideInSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        override = price_override_set(
            subscription=sub,
            base_price=body.validated_data.get("base_price"),
            charges=body.validated_data.get("charges"),
        )
        return Response(override_data(override, sub.currency))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, subscription_id):
        require_role(request, "finance", detail="Only finance may remove negotiated prices.")
        price_override_remove(subscription=_subscription(request, subscription_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path(
        "subscriptions/<uuid:subscription_id>/charges", SubscriptionChargesView.as_view(), name="subscription-charges"
    ),
    path(
        "subscriptions/<uuid:subscription_id>/charges/<uuid:charge_id>",
        SubscriptionChargeView.as_view(),
        name="subscription-charge",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/price-overrides",
        PriceOverridesView.as_view(),
        name="subscription-price-overrides",
    ),
]
