"""Writes of the cost-centers app: create, update and (soft) delete a tenant's cost centers."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Tenant
from billing_project.errors import Conflict
from billing_project.money import quantize
from costcenters.models import CostCenter

EDITABLE_FIELDS = ("code", "name", "description", "budget", "currency", "owner_email")


class CostCenterCodeTaken(Conflict):
    default_code = "cost_center_code_taken"
    default_detail = "The tenant already has a cost center with this code."


def _save(cost_center: CostCenter) -> CostCenter:
    """Return `cost_center` saved, turning a clash on the live-code constraint into a 409."""
    if cost_center.budget is not None:
        cost_center.budget = quantize(Decimal(cost_center.budget), cost_center.currency)
    cost_center.full_clean(exclude=["tenant"], validate_constraints=False)
    try:
        # A savepoint, so the caller's transaction survives the IntegrityError.
        with transaction.atomic():
            cost_center.save()
    except IntegrityError:
        raise CostCenterCodeTaken(
            f"Tenant {cost_center.tenant_id} already has a cost center with code '{cost_center.code}'."
        ) from None
    return cost_center


@transaction.atomic
def cost_center_create(
    *,
    tenant_id: str,
    code: str,
    name: str,
    currency: str = "USD",
    description: str = "",
    budget: Decimal | None = None,
    owner_email: str = "",
) -> CostCenter:
    """Return a new cost center of `tenant_id` (creating the tenant's billing account on first use)."""
    tenant, _ = Tenant.objects.get_or_create(id=tenant_id)
    cost_center = CostCenter(
        tenant=tenant,
        code=code,
        name=name,
        description=description,
        budget=budget,
        currency=currency,
        owner_email=owner_email,
    )
    return _save(cost_center)


@transaction.atomic
def cost_center_update(*, cost_center: CostCenter, **fields) -> CostCenter:
    """Return `cost_center` with the given editable fields changed (the tenant never changes)."""
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise TypeError(f"{name} is not an editable field of a cost center")
        setattr(cost_center, name, value)
    return _save(cost_center)


@transaction.atomic
def cost_center_delete(*, cost_center: CostCenter) -> CostCenter:
    """Return `cost_center` soft-deleted: gone from lists, its code free again, its history kept."""
    now = timezone.now()
    CostCenter.objects.filter(pk=cost_center.pk, deleted_at__isnull=True).update(deleted_at=now, updated_at=now)
    cost_center.deleted_at = now
    return cost_center
