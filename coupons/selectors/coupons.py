"""Read coupons: by code (case-insensitively, through the lower(code) unique index) and filtered lists."""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Lower

from coupons.models import Coupon


def coupon_list(*, active: bool | None = None, code: str | None = None) -> QuerySet[Coupon]:
    """Return coupons newest first, optionally only (in)active ones or the one with `code` in any case."""
    qs = Coupon.objects.all()
    if active is not None:
        qs = qs.filter(active=active)
    if code is not None:
        qs = qs.alias(code_lower=Lower("code")).filter(code_lower=code.lower())
    return qs.order_by("-created_at", "id")


def coupon_by_code(*, code: str, for_update: bool = False) -> Coupon | None:
    """Return the coupon whose code equals `code` ignoring case, or None (row-locked with `for_update`)."""
    qs = Coupon.objects.alias(code_lower=Lower("code")).filter(code_lower=str(code).lower())
    if for_update:
        qs = qs.select_for_update()
    return qs.first()
