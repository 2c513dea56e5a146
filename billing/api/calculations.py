"""GET /tenants/:tenantId/billing/preview and /billing/estimate: the current period's bill, nothing stored."""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.subscriptions import NoSubscription
from billing.selectors.calculation import bill_data, estimate_bill, preview_bill
from billing.selectors.subscriptions import subscription_live_for_tenant
from billing.services.subscriptions import subscription_roll_if_due


class TierOutSerializer(serializers.Serializer):
    quantity = serializers.CharField()
    unit_price = serializers.CharField()
    amount = serializers.CharField()


class BillLineOutSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["base", "usage"])
    description = serializers.CharField()
    metric = serializers.CharField(required=False)
    plan_id = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField(required=False)
    amount = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    tiers = TierOutSerializer(many=True, required=False)


class PreviewOutSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    subscription_id = serializers.UUIDField()
    currency = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    lines = BillLineOutSerializer(many=True)
    subtotal = serializers.CharField()
    discount = serializers.CharField()
    tax = serializers.CharField()
    total = serializers.CharField()
    credits_applied = serializers.CharField()
    amount_due = serializers.CharField()


class EstimateOutSerializer(PreviewOutSerializer):
    projected = serializers.BooleanField()
    elapsed_fraction = serializers.CharField()


def _live(tenant_id: str, now):
    """Return the tenant's live subscription as of `now`, or raise 404 `no_subscription`."""
    sub = subscription_live_for_tenant(tenant_id=tenant_id)
    if sub is None:
        raise NoSubscription(f"Tenant {tenant_id} has no subscription that is not canceled.")
    sub = subscription_roll_if_due(subscription=sub, at=now)
    if sub.status == "canceled":  # it ended with the period that just closed
        raise NoSubscription(f"Tenant {tenant_id} has no subscription that is not canceled.")
    return sub


class PreviewView(APIView):
    """The invoice the current period would produce if it ended now (lines cover [period_start, now))."""

    allowed_roles = {"finance", "tenant"}

    @extend_schema(responses=PreviewOutSerializer)
    def get(self, request, tenant_id: str):
        now = timezone.now()
        return Response(bill_data(preview_bill(subscription=_live(tenant_id, now), now=now)))


class EstimateView(APIView):
    """The projected cost of the whole current period (`projected: true`, `elapsed_fraction`)."""

    allowed_roles = {"finance", "tenant"}

    @extend_schema(responses=EstimateOutSerializer)
    def get(self, request, tenant_id: str):
        now = timezone.now()
        return Response(bill_data(estimate_bill(subscription=_live(tenant_id, now), now=now)))


urlpatterns = [
    path("tenants/<str:tenant_id>/billing/preview", PreviewView.as_view(), name="billing-preview"),
    path("tenants/<str:tenant_id>/billing/estimate", EstimateView.as_view(), name="billing-estimate"),
]
