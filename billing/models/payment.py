"""Payment attempts: every try at charging an invoice's default payment method.

An attempt is written (status `processing`) and committed before Stripe is called, and carries the
number that makes its idempotency key (`invoice-<id>-attempt-<n>`): a task that runs twice, or a
worker killed after Stripe answered, asks Stripe again with the same key and gets the same
PaymentIntent back, never a second charge.
"""

import uuid

from django.db import models

from .fields import currency_field, money_field
from .invoice import Invoice


class PaymentAttempt(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        REQUIRES_ACTION = "requires_action"

    class Trigger(models.TextChoices):
        AUTOMATIC = "automatic"  # at finalize
        RETRY = "retry"  # BILLING_RETRY_SCHEDULE
        MANUAL = "manual"  # POST …/pay

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payment_attempts")
    attempt = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROCESSING)
    amount = money_field()
    currency = currency_field()
    payment_method_id = models.CharField(max_length=255, blank=True, default="")
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    failure_code = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.TextField(blank=True, default="")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["invoice_id", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "attempt"], name="one_attempt_number_per_invoice"),
            # At most one try in flight per invoice: concurrent …/pay calls cannot both start one.
            models.UniqueConstraint(
                fields=["invoice"], condition=models.Q(status="processing"), name="one_processing_attempt_per_invoice"
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="payment_attempt_status")]

    def __str__(self) -> str:
        return f"Attempt {self.attempt} on {self.invoice_id}: {self.status}"

    @property
    def idempotency_key(self) -> str:
        """Return the Stripe idempotency key of this attempt (derived from our own ids only)."""
        return f"invoice-{self.invoice_id}-attempt-{self.attempt}"
