"""Writes of the quotas app: create, update and delete a tenant's quotas."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from billing.models import Metric, Tenant
from quotas.models import Quota

EDITABLE_FIELDS = ("metric", "limit", "period", "enforcement", "warn_at_percent")


@transaction.atomic
def quota_create(
    *,
    tenant_id: str,
    metric: Metric,
    limit: Decimal,
    period: str = Quota.Period.MONTH,
    enforcement: str = Quota.Enforcement.SOFT,
    warn_at_percent: Decimal = Decimal(80),
) -> Quota:
    """Return a new quota of `tenant_id` on `metric` (creating the tenant's billing account on first use)."""
    tenant, _ = Tenant.objects.get_or_create(id=tenant_id)
    quota = Quota(
        tenant=tenant,
        metric=metric,
        limit=limit,
        period=period,
        enforcement=enforcement,
        warn_at_percent=warn_at_percent,
    )
    quota.full_clean()
    quota.save()
    return quota


@transaction.atomic
def quota_update(*, quota: Quota, **fields) -> Quota:
    """Return `quota` with the given editable fields changed (the tenant never changes)."""
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise TypeError(f"{name} is not an editable field of a quota")
        setattr(quota, name, value)
    quota.notified_status, quota.notified_period_start = "", None  # announce again against the new terms
    quota.full_clean()
    quota.save()
    return quota


@transaction.atomic
def quota_delete(*, quota: Quota) -> None:
    """Delete `quota`; usage is no longer limited by it."""
    quota.delete()
