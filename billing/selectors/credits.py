"""Read a tenant's available credit balance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum

from billing.models import CreditGrant


def credit_grants_usable(*, tenant_id: str, currency: str, at: datetime):
    """Return the grants that could be consumed at `at`, oldest-expiring first (never-expiring last)."""
    return (
        CreditGrant.objects.filter(tenant_id=tenant_id, currency=currency, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .order_by("expires_at", "created_at", "id")
    )


def credits_available(*, tenant_id: str, currency: str, at: datetime) -> Decimal:
    """Return the unexpired remaining credit of `tenant_id` in `currency` at `at`."""
    total = credit_grants_usable(tenant_id=tenant_id, currency=currency, at=at).aggregate(s=Sum("remaining"))["s"]
    return total or Decimal(0)
