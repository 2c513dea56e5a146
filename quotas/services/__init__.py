"""Writes of the quotas app: quotas.py (create, update, delete) and enforce.py (hard quotas at ingest)."""

from quotas.services.quotas import quota_create, quota_delete, quota_update

__all__ = ["quota_create", "quota_delete", "quota_update"]
