"""Reads of the cost-centers app: cost_centers.py (live codes and lists, also used by usage ingest)."""

from costcenters.selectors.cost_centers import cost_center_codes, cost_center_list, cost_center_live

__all__ = ["cost_center_codes", "cost_center_list", "cost_center_live"]
