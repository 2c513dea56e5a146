"""Reads of the cost-centers app used by other apps."""


def cost_center_codes(*, tenant_id: str) -> set[str]:
    """Return the codes of the tenant's live (not deleted) cost centers."""
    from costcenters.models import CostCenter

    return set(CostCenter.objects.filter(tenant_id=tenant_id, deleted_at__isnull=True).values_list("code", flat=True))
