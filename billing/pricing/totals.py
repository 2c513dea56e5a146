"""Invoice totals in the order of contract section 6, and the usage projection of an estimate.

subtotal → discount → tax → total → credits → amount due, each step rounded to the currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from billing.pricing.money import EXACT_CONTEXT, quantize, to_decimal, zero

ESTIMATE_PLACES = Decimal("1E-12")
SCALED_AGGREGATIONS = frozenset({"sum", "count"})
UNSCALED_AGGREGATIONS = frozenset({"max", "unique_count", "latest"})


@dataclass(frozen=True)
class DiscountSpec:
    """A discount: ``percent_off`` (0–100, "10" = 10 %) or ``amount_off`` in the invoice currency."""

    percent_off: Decimal | None = None
    amount_off: Decimal | None = None

    def __post_init__(self) -> None:
        """Raise ``ValueError`` for both kinds at once or an out-of-range value."""
        if self.percent_off is not None and self.amount_off is not None:
            raise ValueError("a discount has percent_off or amount_off, not both")
        if self.percent_off is not None and not 0 <= self.percent_off <= 100:
            raise ValueError("percent_off must be between 0 and 100")
        if self.amount_off is not None and self.amount_off < 0:
            raise ValueError("amount_off must not be negative")


@dataclass(frozen=True)
class Totals:
    """The totals of an invoice, preview or estimate, each rounded to the currency's minor unit."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    credits_applied: Decimal
    amount_due: Decimal


def compute_totals(
    *,
    line_amounts: list[Decimal],
    currency: str,
    discount: DiscountSpec | None,
    tax_rate: Decimal,
    credits_available: Decimal,
) -> Totals:
    """Return the totals of already-rounded lines.

    ``tax_rate`` is a fraction, not a percentage: ``Decimal("0.2")`` is 20 %. The discount never
    exceeds the subtotal nor goes below zero; credits apply only to a positive total.
    Raises ``ValueError`` for a line not rounded to the currency or a negative tax rate.
    """
    tax_rate = to_decimal(tax_rate)
    if tax_rate < 0:
        raise ValueError("tax_rate must not be negative")
    subtotal = zero(currency)
    for amount in line_amounts:
        if quantize(amount, currency) != amount:
            raise ValueError(f"line amount {amount} is not rounded to {currency}")
        subtotal += amount
    with localcontext(EXACT_CONTEXT):
        off = _discount(subtotal, discount, currency)
        tax = quantize((subtotal - off) * tax_rate, currency)
        total = subtotal - off + tax
        available = max(quantize(credits_available, currency), zero(currency))
        credits = min(available, total) if total > 0 else zero(currency)
        return Totals(
            subtotal=subtotal,
            discount=off,
            tax=tax,
            total=total,
            credits_applied=credits,
            amount_due=total - credits,
        )


def _discount(subtotal: Decimal, discount: DiscountSpec | None, currency: str) -> Decimal:
    """Return the discount on ``subtotal``, clamped to ``[0, subtotal]``."""
    if discount is None or subtotal <= 0:
        return zero(currency)
    if discount.percent_off is not None:
        off = quantize(subtotal * discount.percent_off / 100, currency)
    elif discount.amount_off is not None:
        off = quantize(discount.amount_off, currency)
    else:
        return zero(currency)
    return min(max(off, zero(currency)), subtotal)


def scale_for_estimate(
    quantity: Decimal, aggregation: str, elapsed_seconds: Decimal, period_seconds: Decimal
) -> Decimal:
    """Return the quantity projected to the whole period, rounded to 12 decimal places.

    ``sum`` and ``count`` grow with time and are scaled by ``period / elapsed`` (unchanged when
    nothing has elapsed yet); ``max``, ``unique_count`` and ``latest`` are taken as they stand.
    (``weighted_sum`` is projected by holding its level instead: ``levels.projected_integral``.)
    """
    quantity = to_decimal(quantity)
    if aggregation in UNSCALED_AGGREGATIONS:
        projected = quantity
    elif aggregation in SCALED_AGGREGATIONS:
        elapsed, period = to_decimal(elapsed_seconds), to_decimal(period_seconds)
        with localcontext(EXACT_CONTEXT):
            projected = quantity if elapsed <= 0 else quantity * period / elapsed
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    with localcontext(EXACT_CONTEXT):
        return projected.quantize(ESTIMATE_PLACES, rounding=ROUND_HALF_UP)
