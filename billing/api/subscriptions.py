"""Subscription endpoints: create, get the live one, list, change plan, cancel, reactivate, pause, resume.

`subscription_data(sub)` / `SubscriptionSerializer` render the contract's subscription object
(plus `credit_balance`); discounts.py (a subscription's /discount and /credits) uses them too.
"""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Discount, Subscription
from billing.selectors.discounts import discount_is_exhausted
from billing.selectors.subscriptions import (
    subscription_active_discount,
    subscription_credit_balance,
    subscription_list,
    subscription_live_for_tenant,
)
from billing.services.subscriptions import (
    MAX_TRIAL_DAYS,
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_pause,
    subscription_reactivate,
    subscription_resume,
    subscription_roll_if_due,
)
from billing_project.errors import NotFound
from billing_project.fields import InstantField, parse_instant, plain_decimal
from billing_project.money import fmt
from billing_project.permissions import scope_to_caller

ROLES = {"finance", "tenant"}


class NoSubscription(NotFound):
    default_code = "no_subscription"
    default_detail = "The tenant has no subscription that is not canceled."


def discount_data(discount: Discount | None, currency: str) -> dict | None:
    """Return the contract's discount object of a subscription (None without one)."""
    if discount is None:
        return None
    data = {"id": str(discount.id)}
    if discount.coupon_id is not None:
        data["coupon_code"] = discount.coupon.code
    data.update(
        percent_off=None if discount.percent_off is None else plain_decimal(discount.percent_off),
        amount_off=None if discount.amount_off is None else fmt(discount.amount_off, discount.currency or currency),
        currency=discount.currency or (currency if discount.amount_off is not None else None),
        duration=discount.duration,
        duration_in_periods=discount.duration_in_periods,
        periods_applied=discount.periods_applied,
        active=discount.active and not discount_is_exhausted(discount),
    )
    return data


class DiscountOutSerializer(serializers.Serializer):
    """The discount object inside a subscription (documentation of its shape)."""

    id = serializers.UUIDField()
    coupon_code = serializers.CharField(required=False)
    percent_off = serializers.CharField(allow_null=True)
    amount_off = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    duration = serializers.ChoiceField(choices=Discount.Duration.choices)
    duration_in_periods = serializers.IntegerField(allow_null=True)
    periods_applied = serializers.IntegerField()
    active = serializers.BooleanField()


class SubscriptionSerializer(serializers.ModelSerializer):
    """The contract's subscription object, plus `credit_balance` (available credits)."""

    id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)
    plan_id = serializers.CharField(read_only=True)
    scheduled_plan_id = serializers.CharField(read_only=True, allow_null=True)
    started_at = InstantField(read_only=True)
    current_period_start = InstantField(read_only=True)
    current_period_end = InstantField(read_only=True)
    trial_end = InstantField(read_only=True, allow_null=True)
    canceled_at = InstantField(read_only=True, allow_null=True)
    ended_at = InstantField(read_only=True, allow_null=True)
    paused_at = InstantField(read_only=True, allow_null=True)
    resume_at = InstantField(read_only=True, allow_null=True)
    created_at = InstantField(read_only=True)
    discount = serializers.SerializerMethodField()
    credit_balance = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "id",
            "tenant_id",
            "plan_id",
            "status",
            "currency",
            "started_at",
            "current_period_start",
            "current_period_end",
            "trial_end",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "paused_at",
            "resume_at",
            "scheduled_plan_id",
            "discount",
            "credit_balance",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(DiscountOutSerializer(allow_null=True))
    def get_discount(self, obj) -> dict | None:
        return discount_data(subscription_active_discount(subscription_id=obj.pk), obj.currency)

    @extend_schema_field(serializers.CharField())
    def get_credit_balance(self, obj) -> str:
        at = self.context.get("now") or timezone.now()
        return fmt(subscription_credit_balance(subscription=obj, at=at), obj.currency)


def subscription_data(sub: Subscription, *, now=None) -> dict:
    """Return the contract's JSON of one subscription (with `discount` and `credit_balance`)."""
    return SubscriptionSerializer(sub, context={"now": now or timezone.now()}).data


class InstantInput(InstantField):
    """An input timestamp or date whose error names just the field ("start_date", not nested)."""

    def to_internal_value(self, data):
        return parse_instant(data)


class SubscriptionCreateSerializer(serializers.Serializer):
    plan_id = serializers.CharField(max_length=64)
    coupon_code = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    start_date = InstantInput(required=False, allow_null=True)
    trial_days = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_TRIAL_DAYS)


class ChangePlanSerializer(serializers.Serializer):
    plan_id = serializers.CharField(max_length=64)
    effective = serializers.ChoiceField(choices=["immediate", "period_end"], default="immediate")


class CancelSerializer(serializers.Serializer):
    at_period_end = serializers.BooleanField(default=True)


class PauseSerializer(serializers.Serializer):
    resume_at = InstantInput(required=False, allow_null=True)


class SubscriptionFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Subscription.Status.choices)

    class Meta:
        model = Subscription
        fields = ["status"]


def _fresh(sub: Subscription) -> Subscription:
    """Return `sub` with anything due applied, so a read never shows a stale period."""
    return subscription_roll_if_due(subscription=sub, at=timezone.now())


class TenantSubscriptionView(APIView):
    """Get the tenant's subscription that is not canceled (404 if none)."""

    allowed_roles = ROLES

    @extend_schema(responses=SubscriptionSerializer)
    def get(self, request, tenant_id: str):
        sub = subscription_live_for_tenant(tenant_id=tenant_id)
        if sub is not None:
            sub = _fresh(sub)
        if sub is None or sub.status == Subscription.Status.CANCELED:  # it may just have ended with its period
            raise NoSubscription(f"Tenant {tenant_id} has no subscription that is not canceled.")
        return Response(subscription_data(sub))


class TenantSubscriptionListView(generics.ListCreateAPIView):
    """List the tenant's subscriptions, newest first (filter `?status=`), or create one."""

    allowed_roles = ROLES
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilter

    def get_queryset(self):
        return subscription_list(tenant_id=self.kwargs.get("tenant_id", ""))

    def list(self, request, *args, **kwargs):
        live = subscription_live_for_tenant(tenant_id=self.kwargs["tenant_id"])
        if live is not None:
            _fresh(live)
        return super().list(request, *args, **kwargs)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(request=SubscriptionCreateSerializer, responses={201: SubscriptionSerializer})
    def post(self, request, tenant_id: str):
        body = SubscriptionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sub = subscription_create(
            tenant_id=tenant_id,
            plan_id=body.validated_data["plan_id"],
            start_date=body.validated_data.get("start_date"),
            trial_days=body.validated_data.get("trial_days"),
            coupon_code=body.validated_data.get("coupon_code") or None,
            actor=request.user,
        )
        return Response(subscription_data(sub), status=status.HTTP_201_CREATED)


class SubscriptionActionView(APIView):
    """Base of the POST /subscriptions/:id/<action> endpoints: the subscription scoped to the caller."""

    allowed_roles = ROLES

    def subscription(self) -> Subscription:
        """Return the subscription named in the path, 404 when unknown or another tenant's."""
        qs = scope_to_caller(Subscription.objects.select_related("plan"), self.request)
        sub = qs.filter(pk=self.kwargs["subscription_id"]).first()
        if sub is None:
            raise NotFound("No such subscription.")
        return sub

    def body(self, serializer_class: type[serializers.Serializer]) -> dict:
        """Return the validated request body (400 naming each bad field)."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ChangePlanView(SubscriptionActionView):
    """Change plan now (the period is split into segments) or at the period end (`scheduled_plan_id`)."""

    @extend_schema(request=ChangePlanSerializer, responses=SubscriptionSerializer)
    def post(self, request, subscription_id):
        sub = self.subscription()
        data = self.body(ChangePlanSerializer)
        sub = subscription_change_plan(subscription=sub, plan_id=data["plan_id"], effective=data["effective"])
        return Response(subscription_data(sub))


class CancelView(SubscriptionActionView):
    """Cancel at the period end (default) or now (`{"at_period_end": false}`)."""

    @extend_schema(request=CancelSerializer, responses=SubscriptionSerializer)
    def post(self, request, subscription_id):
        sub = self.subscription()
        data = self.body(CancelSerializer)
        return Response(subscription_data(subscription_cancel(subscription=sub, at_period_end=data["at_period_end"])))


class ReactivateView(SubscriptionActionView):
    """Withdraw a pending cancellation, or restart a canceled subscription with a new period."""

    @extend_schema(request=None, responses=SubscriptionSerializer)
    def post(self, request, subscription_id):
        return Response(subscription_data(subscription_reactivate(subscription=self.subscription())))


class PauseView(SubscriptionActionView):
    """Pause an active or trialing subscription, optionally until `resume_at`."""

    @extend_schema(request=PauseSerializer, responses=SubscriptionSerializer)
    def post(self, request, subscription_id):
        sub = self.subscription()
        data = self.body(PauseSerializer)
        return Response(subscription_data(subscription_pause(subscription=sub, resume_at=data.get("resume_at"))))


class ResumeView(SubscriptionActionView):
    """Resume a paused subscription."""

    @extend_schema(request=None, responses=SubscriptionSerializer)
    def post(self, request, subscription_id):
        return Response(subscription_data(subscription_resume(subscription=self.subscription())))


urlpatterns = [
    path("tenants/<str:tenant_id>/subscription", TenantSubscriptionView.as_view(), name="subscription-live"),
    path("tenants/<str:tenant_id>/subscriptions", TenantSubscriptionListView.as_view(), name="subscription-list"),
    path("subscriptions/<uuid:subscription_id>/change-plan", ChangePlanView.as_view(), name="subscription-change-plan"),
    path("subscriptions/<uuid:subscription_id>/cancel", CancelView.as_view(), name="subscription-cancel"),
    path("subscriptions/<uuid:subscription_id>/reactivate", ReactivateView.as_view(), name="subscription-reactivate"),
    path("subscriptions/<uuid:subscription_id>/pause", PauseView.as_view(), name="subscription-pause"),
    path("subscriptions/<uuid:subscription_id>/resume", ResumeView.as_view(), name="subscription-resume"),
]
