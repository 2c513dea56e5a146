"""Writes of the cost-centers app: cost_centers.py (create, update, soft delete)."""

from costcenters.services.cost_centers import (
    CostCenterCodeTaken,
    cost_center_create,
    cost_center_delete,
    cost_center_update,
)

__all__ = ["CostCenterCodeTaken", "cost_center_create", "cost_center_delete", "cost_center_update"]
