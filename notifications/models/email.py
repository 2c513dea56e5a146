"""The e-mail log: one row per message, written before it is sent (the e-mail outbox)."""

import uuid

from django.db import models
from django.db.models import Q


class EmailMessage(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice"
        RECEIPT = "receipt"
        PAYMENT_FAILED = "payment_failed"
        CREDIT_NOTE = "credit_note"
        ALERT = "alert"

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(
        "notifications.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    tenant_id = models.CharField(max_length=64, db_index=True)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    context = models.JSONField(help_text="What the templates render: the event's object.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    resent_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "kind"], condition=Q(event__isnull=False), name="email_once_per_event"
            )
        ]
        indexes = [models.Index(fields=["next_attempt_at"], condition=Q(status="queued"), name="email_due")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"
