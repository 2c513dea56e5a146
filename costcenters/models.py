"""Cost centers: codes unique per tenant among live ones; deleting is soft so history keeps its code."""

import uuid

from django.db import models
from django.db.models import Q

from billing.models.fields import currency_field, money_field


class CostCenter(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("billing.Tenant", on_delete=models.PROTECT, related_name="cost_centers")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    budget = money_field(null=True, blank=True)
    currency = currency_field(default="USD")
    owner_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant_id", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "code"], condition=Q(deleted_at__isnull=True), name="cost_center_code_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.code}"
