"""Proration exact to the (micro)second: fraction = seconds covered / seconds in the period.

All of it is Decimal; a prorated amount is the full amount times the covered seconds divided by the
period's seconds, multiplied before dividing and rounded once (contract sections 1 and 5).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext

from billing.pricing.money import quantize, to_decimal

# NOTE: 40 significant digits hold amount × seconds exactly (≈16 + 14 digits), and leave the
# quotient far more precise than the half-cent boundaries it is later rounded at.
PRORATION_CONTEXT = Context(prec=40)


def _utc(moment: datetime) -> datetime:
    """Return an aware ``moment`` in UTC (naive ones unchanged) so DST never skews a difference."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC)


def seconds_between(start: datetime, end: datetime) -> Decimal:
    """Return the exact number of seconds from ``start`` to ``end``, microseconds as a fraction."""
    delta = _utc(end) - _utc(start)
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds).scaleb(-6)


def fraction(covered_seconds: Decimal, period_seconds: Decimal) -> Decimal:
    """Return ``covered_seconds / period_seconds`` to 40 significant digits."""
    covered, period = to_decimal(covered_seconds), to_decimal(period_seconds)
    if period <= 0:
        raise ValueError("period_seconds must be positive")
    with localcontext(PRORATION_CONTEXT):
        return covered / period


def prorate(amount: Decimal, covered_seconds: Decimal, period_seconds: Decimal, currency: str) -> Decimal:
    """Return ``amount × covered / period`` rounded to the currency's minor unit."""
    amount, covered, period = to_decimal(amount), to_decimal(covered_seconds), to_decimal(period_seconds)
    if period <= 0:
        raise ValueError("period_seconds must be positive")
    with localcontext(PRORATION_CONTEXT):
        return quantize(amount * covered / period, currency)
