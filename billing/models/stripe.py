"""Stored Stripe webhook events: stored first, then verified, then processed exactly once."""

from django.db import models


class StripeWebhookEvent(models.Model):
    event_id = models.CharField(primary_key=True, max_length=255)
    type = models.CharField(max_length=128, blank=True)
    raw_body = models.TextField()
    signature_valid = models.BooleanField(default=False)
    processed = models.BooleanField(default=False)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"
