"""Cost and usage alerts on the current billing period."""

import uuid

from django.db import models

from billing.models.fields import quantity_field


class Alert(models.Model):
    class Type(models.TextChoices):
        COST_THRESHOLD = "cost_threshold"
        USAGE_THRESHOLD = "usage_threshold"
        BUDGET_PERCENT = "budget_percent"

    class Status(models.TextChoices):
        ARMED = "armed"
        TRIGGERED = "triggered"
        DISMISSED = "dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("billing.Tenant", on_delete=models.PROTECT, related_name="alerts")
    type = models.CharField(max_length=20, choices=Type.choices)
    threshold = quantity_field()
    metric = models.ForeignKey("billing.Metric", null=True, blank=True, on_delete=models.PROTECT)
    cost_center = models.ForeignKey("costcenters.CostCenter", null=True, blank=True, on_delete=models.PROTECT)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ARMED)
    triggered_at = models.DateTimeField(null=True, blank=True)
    value_at_trigger = quantity_field(null=True, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    period_start = models.DateTimeField(
        null=True, blank=True, help_text="The period the current status belongs to (re-arms when it changes)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]


class AlertDelivery(models.Model):
    """One webhook notice for a triggered alert, with its delivery attempts."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "alert deliveries"


AlertType = Alert.Type  # importable by path for the OpenAPI enum name (settings.SPECTACULAR_SETTINGS)
