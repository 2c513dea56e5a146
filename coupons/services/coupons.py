"""Create and deactivate coupons (finance)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from billing.models import Plan
from billing.services.discounts import PERCENT_EXPONENT, discount_terms_validate
from billing_project.errors import Conflict, invalid
from billing_project.money import quantize
from coupons.models import Coupon
from coupons.selectors.coupons import coupon_by_code

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{3,64}$")


class CouponCodeTaken(Conflict):
    default_code = "coupon_code_taken"
    default_detail = "A coupon with this code already exists (codes are case-insensitive)."


def coupon_terms_validate(
    *,
    code: str,
    percent_off: Decimal | None,
    amount_off: Decimal | None,
    currency: str,
    duration: str,
    duration_in_periods: int | None,
    max_redemptions: int | None,
    applies_to_plans: list[str],
) -> None:
    """Return None when the coupon terms are valid, else raise a 400 naming the first bad field."""
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise invalid("code", "A code is 3–64 characters of A–Z, a–z, 0–9, '_' and '-'.", "invalid")
    discount_terms_validate(
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency,
        duration=duration,
        duration_in_periods=duration_in_periods,
    )
    if max_redemptions is not None and max_redemptions < 1:
        raise invalid("max_redemptions", "max_redemptions must be at least 1.", "min_value")
    known = set(Plan.objects.filter(id__in=applies_to_plans).values_list("id", flat=True))
    for i, plan_id in enumerate(applies_to_plans):
        if plan_id not in known:
            raise invalid(f"applies_to_plans.{i}", f"No plan '{plan_id}'.", "does_not_exist")


@transaction.atomic
def coupon_create(
    *,
    code: str,
    name: str = "",
    percent_off: Decimal | None = None,
    amount_off: Decimal | None = None,
    currency: str = "",
    duration: str = Coupon.Duration.ONCE,
    duration_in_periods: int | None = None,
    max_redemptions: int | None = None,
    redeem_by: datetime | None = None,
    applies_to_plans: list[str] | None = None,
) -> Coupon:
    """Return a new active coupon; 409 `coupon_code_taken` when the code exists in any case.

    `currency` only matters with `amount_off` (upper-cased; a percent coupon stores none).
    """
    plans = list(dict.fromkeys(applies_to_plans or []))
    currency = (currency or "").upper() if amount_off is not None else ""
    coupon_terms_validate(
        code=code,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency,
        duration=duration,
        duration_in_periods=duration_in_periods,
        max_redemptions=max_redemptions,
        applies_to_plans=plans,
    )
    if coupon_by_code(code=code) is not None:
        raise CouponCodeTaken(f"The code '{code}' is taken (codes are case-insensitive).")
    coupon = Coupon(
        code=code,
        name=name or "",
        percent_off=Decimal(percent_off).quantize(PERCENT_EXPONENT) if percent_off is not None else None,
        amount_off=quantize(amount_off, currency) if amount_off is not None else None,
        currency=currency,
        duration=duration,
        duration_in_periods=duration_in_periods if duration == Coupon.Duration.REPEATING else None,
        max_redemptions=max_redemptions,
        redeem_by=redeem_by,
        applies_to_plans=plans,
    )
    coupon.full_clean(validate_constraints=False)
    try:
        # The lower(code) unique index settles a race between two creates of the same code.
        with transaction.atomic():
            coupon.save()
    except IntegrityError:
        raise CouponCodeTaken(f"The code '{code}' is taken (codes are case-insensitive).") from None
    return coupon


@transaction.atomic
def coupon_deactivate(*, coupon: Coupon) -> Coupon:
    """Return `coupon`, now inactive: it can no longer be redeemed; discounts already given stay."""
    Coupon.objects.filter(pk=coupon.pk, active=True).update(active=False)
    coupon.refresh_from_db()
    return coupon
