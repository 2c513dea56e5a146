"""Minimum commitments and one-off charges (contract section 14).

A plan's ``minimum_amount`` is prorated per segment by the segment's base fraction (the base
price's own proration, so trial and paused time owe no minimum); when the segment's base and usage
lines add up to less, a ``minimum`` line makes up the difference. A one-off charge is an amount, or
a quantity times a unit price, rounded once.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, localcontext

from billing.pricing.money import EXACT_CONTEXT, quantize, zero
from billing.pricing.proration import prorate


def minimum_shortfall(
    *,
    minimum_amount: Decimal | None,
    base_seconds: Decimal,
    period_seconds: Decimal,
    line_amounts: Iterable[Decimal],
    currency: str,
) -> Decimal | None:
    """Return the ``minimum`` line's amount for a segment, or ``None`` when its lines reach the minimum.

    The segment owes ``minimum_amount × base_seconds / period_seconds`` (rounded like any line);
    ``line_amounts`` are its already-rounded base and usage lines.
    """
    if not minimum_amount:
        return None
    owed = prorate(minimum_amount, base_seconds, period_seconds, currency)
    billed = zero(currency)
    for amount in line_amounts:
        billed += amount
    if billed >= owed:
        return None
    return owed - billed


def one_off_amount(*, quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """Return ``quantity × unit_price`` rounded to the currency's minor unit."""
    with localcontext(EXACT_CONTEXT):
        return quantize(quantity * unit_price, currency)
