"""Quotas on a tenant's metric per day, month or billing period; hard ones refuse usage at ingest."""

import uuid

from django.db import models

from billing.models.fields import quantity_field


class Quota(models.Model):
    class Period(models.TextChoices):
        DAY = "day"
        MONTH = "month"
        BILLING_PERIOD = "billing_period"

    class Enforcement(models.TextChoices):
        SOFT = "soft"
        HARD = "hard"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("billing.Tenant", on_delete=models.PROTECT, related_name="quotas")
    metric = models.ForeignKey("billing.Metric", on_delete=models.PROTECT, related_name="quotas")
    limit = quantity_field()
    period = models.CharField(max_length=16, choices=Period.choices, default=Period.MONTH)
    enforcement = models.CharField(max_length=8, choices=Enforcement.choices, default=Enforcement.SOFT)
    warn_at_percent = models.DecimalField(max_digits=6, decimal_places=2, default=80)
    # The highest status announced (quota.warning / quota.exceeded events) in the window starting then.
    notified_status = models.CharField(max_length=10, blank=True, default="")
    notified_period_start = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant_id", "metric_id", "created_at"]
        indexes = [models.Index(fields=["tenant", "metric", "enforcement"], name="quota_tenant_metric")]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.metric_id} ≤ {self.limit}/{self.period} ({self.enforcement})"
