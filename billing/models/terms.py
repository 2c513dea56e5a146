"""A subscription's own terms beside its plan: one-off charges and negotiated price overrides.

One-off charges go onto the next invoice generated for the subscription (status `pending` until
that invoice is finalized, back to `pending` when it is voided). A price override replaces the
plan's base price and/or some of its charges from `started_at` until `ended_at` (a newer override,
a removal or a plan change ends it); the billing engine cuts the period into segments at both.
"""

import uuid

from django.db import models

from .fields import currency_field, money_field, price_field, quantity_field
from .invoice import Invoice
from .subscription import Subscription


class OneOffCharge(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        INVOICED = "invoiced"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="one_off_charges")
    description = models.CharField(max_length=255)
    quantity = quantity_field(default=1)
    unit_price = price_field()
    amount = money_field()
    currency = currency_field()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="one_off_charges"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["subscription", "status"], name="one_off_sub_status")]

    def __str__(self) -> str:
        return f"{self.description} ({self.amount} {self.currency})"


class PriceOverride(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="price_overrides")
    plan_id = models.CharField(max_length=64, help_text="The plan the override was negotiated on.")
    base_price = money_field(null=True, blank=True)
    charges = models.JSONField(default=list, blank=True, help_text="Charges in the catalog's format, by metric.")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        since = f" from {self.started_at:%Y-%m-%d %H:%M}" if self.started_at else ""
        return f"Override of {self.plan_id or 'the plan'}{since}"
