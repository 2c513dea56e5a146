"""Subscriptions, their plan and pause history (which cut periods into segments), discounts, credits.

Status is a state machine: `TRANSITIONS` lists what may follow what, and
`billing.services.subscriptions.subscription_transition` is the one function that applies it.
"""

import uuid

from django.db import models
from django.db.models import Q

from .catalog import Plan
from .fields import currency_field, money_field
from .tenant import Tenant


class Subscription(models.Model):
    class Status(models.TextChoices):
        TRIALING = "trialing"
        ACTIVE = "active"
        PAUSED = "paused"
        PAST_DUE = "past_due"
        CANCELED = "canceled"

    TRANSITIONS = {
        "trialing": {"active", "paused", "past_due", "canceled"},
        "active": {"paused", "past_due", "canceled"},
        "paused": {"active", "trialing", "canceled"},
        "past_due": {"active", "canceled"},
        "canceled": {"active"},
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=16, choices=Status.choices)
    currency = currency_field()
    started_at = models.DateTimeField(help_text="Anchor of the billing periods.")
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)
    scheduled_plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="scheduled_subscriptions"
    )
    invoiced_through = models.DateTimeField(
        help_text="Start of the first period not yet invoiced (the invoice run advances it)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"], condition=~Q(status="canceled"), name="one_live_subscription_per_tenant"
            ),
        ]
        indexes = [models.Index(fields=["status", "invoiced_through"], name="sub_status_invoiced")]

    def __str__(self) -> str:
        return f"{self.tenant_id} on {self.plan_id} ({self.status})"


class SubscriptionPlanSpan(models.Model):
    """The plan in force over [start, end); end is null while it still is."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="plan_spans")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subscription_id", "start"]


class SubscriptionPause(models.Model):
    """A paused stretch [start, end); end is null while still paused."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="pauses")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subscription_id", "start"]


class Discount(models.Model):
    """A subscription's discount (from a coupon or ad hoc); one active at a time."""

    class Duration(models.TextChoices):
        ONCE = "once"
        REPEATING = "repeating"
        FOREVER = "forever"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="discounts")
    coupon = models.ForeignKey("coupons.Coupon", null=True, blank=True, on_delete=models.PROTECT)
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    amount_off = money_field(null=True, blank=True)
    currency = currency_field(blank=True)
    duration = models.CharField(max_length=16, choices=Duration.choices)
    duration_in_periods = models.PositiveIntegerField(null=True, blank=True)
    periods_applied = models.PositiveIntegerField(default=0, help_text="Finalized invoices it has applied to.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["subscription"], condition=Q(active=True), name="one_active_discount"),
        ]


class CreditGrant(models.Model):
    """Credits granted by finance; consumed oldest-expiring first at finalize, restored on void."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="credit_grants")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="credit_grants"
    )
    amount = money_field()
    remaining = money_field()
    currency = currency_field()
    reason = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")), name="credit_remaining_range"
            ),
        ]
