"""Credit notes: corrections of a finalized invoice, with their gapless CN-YYYY-NNNNNN numbers.

A credit note's `total` is split into `applied_amount` (reduces what is still due on an open
invoice), `refund_amount` (sent back through a Stripe Refund) and `credit_amount` (granted to the
tenant as a credit). The refund is recorded first (`refund_status` "pending", no Stripe id yet)
and sent after commit with the idempotency key `credit-note-<id>-refund-<n>`.
"""

import uuid

from django.db import models

from .fields import currency_field, money_field
from .invoice import Invoice
from .tenant import Tenant


class CreditNote(models.Model):
    class Reason(models.TextChoices):
        DUPLICATE = "duplicate"
        FRAUDULENT = "fraudulent"
        ORDER_CHANGE = "order_change"
        PRODUCT_UNSATISFACTORY = "product_unsatisfactory"
        OTHER = "other"

    class RefundStatus(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=32, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="credit_notes")
    currency = currency_field()
    reason = models.CharField(max_length=32, choices=Reason.choices)
    memo = models.TextField(blank=True, default="")
    subtotal = money_field()
    tax = money_field()
    total = money_field()
    applied_amount = money_field(default=0)
    refund_amount = money_field(default=0)
    credit_amount = money_field(default=0)
    refund_status = models.CharField(
        max_length=16, choices=RefundStatus.choices, blank=True, default=""
    )  # "": no refund
    refund_attempts = models.PositiveIntegerField(default=0)
    refund_error = models.TextField(blank=True, default="")
    stripe_refund_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    credit_grant = models.ForeignKey(
        "billing.CreditGrant", null=True, blank=True, on_delete=models.SET_NULL, related_name="credit_notes"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    pdf = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="credit_note_tenant_created")]

    def __str__(self) -> str:
        return self.number

    @property
    def refund_idempotency_key(self) -> str:
        """Return the Stripe idempotency key of this note's current refund try."""
        return f"credit-note-{self.id}-refund-{self.refund_attempts}"


class CreditNoteNumberSequence(models.Model):
    """One row per UTC year, bumped inside the creating transaction (gapless, like invoice numbers)."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"CN {self.year}: {self.last_number}"
