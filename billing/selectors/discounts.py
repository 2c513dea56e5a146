"""Which discount the next invoice of a subscription gets."""

from __future__ import annotations

from billing.models import Discount
from billing.pricing.totals import DiscountSpec


def discount_is_exhausted(discount: Discount) -> bool:
    """Return whether `discount` has applied to as many invoices as its duration allows."""
    if discount.duration == "forever":
        return False
    if discount.duration == "once":
        return discount.periods_applied >= 1
    return discount.periods_applied >= (discount.duration_in_periods or 0)


def discount_for_next_invoice(*, subscription_id) -> Discount | None:
    """Return the subscription's active, not yet exhausted discount, if any."""
    discount = Discount.objects.filter(subscription_id=subscription_id, active=True).first()
    if discount is None or discount_is_exhausted(discount):
        return None
    return discount


def discount_spec(discount: Discount | None) -> DiscountSpec | None:
    """Return the pure pricing spec of `discount` (None for no discount)."""
    if discount is None:
        return None
    return DiscountSpec(percent_off=discount.percent_off, amount_off=discount.amount_off)
