"""Reads of the cost-centers app, also used by other apps (usage ingest validates codes here)."""

from __future__ import annotations

from django.db.models import QuerySet


def cost_center_codes(*, tenant_id: str) -> set[str]:
    """Return the codes of the tenant's live (not deleted) cost centers."""
    from costcenters.models import CostCenter

    return set(CostCenter.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True).values_list("code", flat=True))


def cost_center_live() -> QuerySet:
    """Return every live (not deleted) cost center."""
    from costcenters.models import CostCenter

    return CostCenter.objects.filter(deleted_at__isnull=True)


def cost_center_list(*, tenant_id: str) -> QuerySet:
    """Return the tenant's live cost centers ordered by code."""
    return cost_center_live().filter(tenant_id=tenant_id).order_by("code", "id")


def cost_center_live_sql(*, tenant_param: str, code: str) -> str:
    """Return an SQL boolean expression: whether the SQL expression `code` is one of the tenant's live cost centers."""
    from costcenters.models import CostCenter

    return (
        f"EXISTS (SELECT 1 FROM {CostCenter._meta.db_table} WHERE tenant_id = {tenant_param} "
        f"AND code = {code} AND deleted_at IS NULL)"
    )
