"""Reads of the quotas app: quotas.py (a quota's window and how much of it is used)."""

from quotas.selectors.quotas import QuotaCheck, live_subscription, quota_checks, quota_list, quota_status, quota_window

__all__ = ["QuotaCheck", "live_subscription", "quota_checks", "quota_list", "quota_status", "quota_window"]
