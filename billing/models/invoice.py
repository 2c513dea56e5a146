"""Invoices, their lines, the gapless number sequence and the credits each invoice consumed.

Status machine: draft → open → paid; open → void; open → uncollectible (see `TRANSITIONS`).
Lines and totals are immutable once the invoice leaves draft.
"""

import uuid

from django.db import models
from django.db.models import Q

from .fields import currency_field, money_field, price_field, quantity_field
from .subscription import CreditGrant, Subscription
from .tenant import Tenant


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        PAID = "paid"
        VOID = "void"
        UNCOLLECTIBLE = "uncollectible"

    TRANSITIONS = {
        "draft": {"open", "paid"},
        "open": {"paid", "void", "uncollectible"},
        "paid": set(),
        "void": set(),
        "uncollectible": {"paid"},
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=32, null=True, blank=True, unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    currency = currency_field()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    subtotal = money_field(default=0)
    discount = money_field(default=0)
    tax = money_field(default=0)
    total = money_field(default=0)
    credits_applied = money_field(default=0)
    amount_due = money_field(default=0)
    amount_paid = money_field(default=0)
    tax_rate = models.DecimalField(max_digits=7, decimal_places=6, default=0)
    discount_applied = models.ForeignKey(
        "billing.Discount", null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    stripe_checkout_session_id = models.CharField(max_length=255, blank=True, default="")
    payment_note = models.TextField(blank=True, help_text="e.g. a recorded amount mismatch from Stripe")
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    # Collection (section 11): a copy of the tenant's method at finalize, the dunning schedule.
    collection_method = models.CharField(
        max_length=24, default="charge_automatically", db_default="charge_automatically"
    )
    attempt_count = models.PositiveIntegerField(default=0, db_default=0)
    next_payment_attempt = models.DateTimeField(null=True, blank=True, db_index=True)
    dunning_started_at = models.DateTimeField(null=True, blank=True)
    dunning_exhausted_at = models.DateTimeField(null=True, blank=True)
    payment_reference = models.CharField(max_length=255, blank=True, default="", db_default="")
    # Credit notes (section 12), maintained under the invoice's row lock.
    amount_credited = money_field(default=0, db_default=0)
    amount_credit_applied = money_field(default=0, db_default=0)
    amount_refunded = money_field(default=0, db_default=0)
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=~Q(status="void"),
                name="one_live_invoice_per_period",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status"], name="invoice_tenant_status"),
            models.Index(fields=["tenant", "period_start"], name="invoice_tenant_period"),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft {str(self.id)[:8]}"

    @property
    def amount_remaining(self):
        """Return what is still to be paid: amount due − paid − credit notes applied, never below 0."""
        return max(self.amount_due - self.amount_paid - self.amount_credit_applied, 0)


class InvoiceLine(models.Model):
    class Type(models.TextChoices):
        BASE = "base"
        USAGE = "usage"
        MINIMUM = "minimum"
        ONE_OFF = "one_off"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=8, choices=Type.choices)
    description = models.CharField(max_length=255)
    metric = models.CharField(max_length=64, blank=True, default="")
    filter = models.CharField(max_length=128, blank=True, default="")
    plan_id = models.CharField(max_length=64)
    quantity = quantity_field(default=0)
    unit_price = price_field(null=True, blank=True)
    amount = money_field()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    tiers = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["invoice_id", "position"]

    def __str__(self) -> str:
        return f"Line {self.position + 1}: {self.description}"


class InvoiceNumberSequence(models.Model):
    """One row per UTC year; locked and bumped inside the finalize transaction (gapless)."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)


class CreditApplication(models.Model):
    """How much of a grant an invoice consumed (restored when the invoice is voided)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="credit_applications")
    grant = models.ForeignKey(CreditGrant, on_delete=models.PROTECT, related_name="applications")
    amount = money_field()
    restored_at = models.DateTimeField(null=True, blank=True)
