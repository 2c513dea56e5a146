"""Billing settings and the default payment method (contract section 11).

GET|PUT /tenants/:tenantId/billing-settings, PUT|DELETE /tenants/:tenantId/payment-method: finance,
or the tenant itself (another tenant's path is 403); only finance may change `tax_rate`.
"""

from __future__ import annotations

from decimal import Decimal

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Tenant
from billing.services.payments.settings import (
    billing_settings_tenant,
    billing_settings_update,
    payment_method_remove,
    payment_method_set,
)
from billing_project.fields import DecimalStringField, plain_decimal
from billing_project.permissions import require_role

ROLES = {"finance", "tenant"}


def rate_text(rate: Decimal) -> str:
    """Return a tax rate as the contract writes it: "0", "0.20", "0.075"."""
    text = plain_decimal(Decimal(rate))
    if "." in text and len(text.split(".")[1]) == 1:
        text += "0"
    return text


class PaymentMethodSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    brand = serializers.CharField(allow_null=True)
    last4 = serializers.CharField(allow_null=True)
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)


class BillingSettingsSerializer(serializers.Serializer):
    """The contract's billing settings JSON, read from a Tenant."""

    tenant_id = serializers.CharField(source="id")
    billing_email = serializers.EmailField(allow_null=True)
    collection_method = serializers.ChoiceField(choices=Tenant.CollectionMethod.choices)
    tax_rate = serializers.CharField()
    payment_method = PaymentMethodSerializer(allow_null=True)
    stripe_customer_id = serializers.CharField(allow_null=True)

    def to_representation(self, tenant: Tenant) -> dict:
        method = None
        if tenant.default_payment_method_id:
            method = {
                "id": tenant.default_payment_method_id,
                "type": tenant.payment_method_type or "card",
                "brand": tenant.payment_method_brand or None,
                "last4": tenant.payment_method_last4 or None,
                "exp_month": tenant.payment_method_exp_month,
                "exp_year": tenant.payment_method_exp_year,
            }
        return {
            "tenant_id": tenant.id,
            "billing_email": tenant.billing_email or None,
            "collection_method": tenant.collection_method,
            "tax_rate": rate_text(tenant.tax_rate),
            "payment_method": method,
            "stripe_customer_id": tenant.stripe_customer_id or None,
        }


class BillingSettingsUpdateSerializer(serializers.Serializer):
    billing_email = serializers.EmailField(required=False, allow_null=True, allow_blank=True, max_length=254)
    collection_method = serializers.ChoiceField(choices=Tenant.CollectionMethod.choices, required=False)
    tax_rate = DecimalStringField(
        required=False, max_digits=7, decimal_places=6, min_value=Decimal(0), max_value=Decimal(1)
    )


class PaymentMethodRequestSerializer(serializers.Serializer):
    payment_method_id = serializers.CharField(max_length=255)


class BillingSettingsView(APIView):
    """GET or PUT a tenant's billing settings (a tenant never seen before gets the defaults)."""

    allowed_roles = ROLES

    @extend_schema(responses={200: BillingSettingsSerializer})
    def get(self, request, tenant_id: str):
        return Response(BillingSettingsSerializer(billing_settings_tenant(tenant_id=tenant_id, create=False)).data)

    @extend_schema(request=BillingSettingsUpdateSerializer, responses={200: BillingSettingsSerializer})
    def put(self, request, tenant_id: str):
        body = BillingSettingsUpdateSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        if "tax_rate" in body.validated_data:
            require_role(request, "finance", detail="Only finance may change the tax rate.")
        tenant = billing_settings_update(tenant=billing_settings_tenant(tenant_id=tenant_id), **body.validated_data)
        return Response(BillingSettingsSerializer(tenant).data)


class PaymentMethodView(APIView):
    """PUT: attach a Stripe PaymentMethod and make it the default. DELETE: detach it."""

    allowed_roles = ROLES

    @extend_schema(request=PaymentMethodRequestSerializer, responses={200: BillingSettingsSerializer})
    def put(self, request, tenant_id: str):
        body = PaymentMethodRequestSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        tenant = payment_method_set(
            tenant=billing_settings_tenant(tenant_id=tenant_id),
            payment_method_id=body.validated_data["payment_method_id"],
        )
        return Response(BillingSettingsSerializer(tenant).data)

    @extend_schema(responses={204: None})
    def delete(self, request, tenant_id: str):
        payment_method_remove(tenant=billing_settings_tenant(tenant_id=tenant_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("tenants/<str:tenant_id>/billing-settings", BillingSettingsView.as_view(), name="billing-settings"),
    path("tenants/<str:tenant_id>/payment-method", PaymentMethodView.as_view(), name="payment-method"),
]
