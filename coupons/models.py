"""Coupons (codes unique case-insensitively) and redemptions (one per tenant per coupon)."""

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from billing.models.fields import currency_field, money_field


class Coupon(models.Model):
    class Duration(models.TextChoices):
        ONCE = "once"
        REPEATING = "repeating"
        FOREVER = "forever"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    amount_off = money_field(null=True, blank=True)
    currency = currency_field(blank=True)
    duration = models.CharField(max_length=16, choices=Duration.choices, default=Duration.ONCE)
    duration_in_periods = models.PositiveIntegerField(null=True, blank=True)
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    times_redeemed = models.PositiveIntegerField(default=0)
    redeem_by = models.DateTimeField(null=True, blank=True)
    applies_to_plans = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="coupon_code_unique_ci"),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(times_redeemed__lte=models.F("max_redemptions")),
                name="coupon_redemptions_within_max",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    tenant = models.ForeignKey("billing.Tenant", on_delete=models.PROTECT, related_name="coupon_redemptions")
    subscription = models.ForeignKey(
        "billing.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="coupon_redemptions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["coupon", "tenant"], name="one_redemption_per_tenant")]
