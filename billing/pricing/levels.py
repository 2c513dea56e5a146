"""Level-based aggregations (contract section 14): `latest` and `weighted_sum`.

A `weighted_sum` event sets the level of its resource (the tenant's own level without one) from its
timestamp until the next event of that resource; the tenant's level is the sum over resources and a
level set before a window carries into it. The aggregated quantity of ``[start, end)`` is
∫ level dt ÷ (the billing period's length). Integrals are exact Decimals in unit·seconds, so the
integrals of the segments of a period add up to the period's exactly; only the division by the
period length rounds (to 12 decimal places, the contract's quantity precision).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

from billing.pricing.money import EXACT_CONTEXT

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUANTITY_PLACES = Decimal("1E-12")


@dataclass(frozen=True)
class Reading:
    """One level reading: from ``at`` on, ``resource_id``'s level is ``quantity``.

    ``key`` says whose level it is when a charge prices parts separately (a filter's index, or
    ``None`` for the charge's own model); a piece of level belongs to the key of the reading that set it.
    """

    at: datetime
    quantity: Decimal
    resource_id: str = ""
    key: Hashable = None


@dataclass(frozen=True)
class Level:
    """A resource's level carried into a window: its quantity and the key of the reading that set it."""

    quantity: Decimal
    key: Hashable = None


def _micros(moment: datetime) -> int:
    """Return ``moment`` as whole microseconds since the epoch (exact integer arithmetic)."""
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def level_integrals(
    *, start: datetime, end: datetime, carry: Mapping[str, Level], readings: Sequence[Reading]
) -> dict[tuple[str, Hashable], Decimal]:
    """Return {(resource_id, key): ∫ level dt over [start, end) in unit·seconds}, exactly.

    ``carry`` holds each resource's level at ``start``; ``readings`` are the readings inside the
    window in order (timestamp, then arrival). Pieces of zero length or level are left out.
    """
    # NOTE: time is kept as integer microseconds and each piece as level × microseconds (a Decimal
    # times an int, exact); the sum is scaled to seconds once at the end. A few µs per reading.
    lo, hi = _micros(start), _micros(end)
    levels: dict[str, tuple[Decimal, Hashable, int]] = {r: (lv.quantity, lv.key, lo) for r, lv in carry.items()}
    sums: dict[tuple[str, Hashable], Decimal] = {}
    with localcontext(EXACT_CONTEXT):
        for reading in readings:
            at = _micros(reading.at)
            if not lo <= at < hi:
                raise ValueError("a reading lies outside the window")
            held = levels.get(reading.resource_id)
            if held is not None and held[0] and at > held[2]:
                slot = (reading.resource_id, held[1])
                sums[slot] = sums.get(slot, ZERO) + held[0] * (at - held[2])
            levels[reading.resource_id] = (reading.quantity, reading.key, at)
        for resource, (quantity, key, since) in levels.items():
            if quantity and hi > since:
                slot = (resource, key)
                sums[slot] = sums.get(slot, ZERO) + quantity * (hi - since)
        return {slot: value.scaleb(-6) for slot, value in sums.items()}


def levels_after(carry: Mapping[str, Level], readings: Sequence[Reading]) -> dict[str, Level]:
    """Return each resource's level after ``readings`` (in order), starting from ``carry``."""
    levels = dict(carry)
    for reading in readings:
        levels[reading.resource_id] = Level(reading.quantity, reading.key)
    return levels


def total_level(levels: Mapping[str, Level]) -> Decimal:
    """Return the tenant's level: the sum of its resources' levels."""
    with localcontext(EXACT_CONTEXT):
        return sum((lv.quantity for lv in levels.values()), ZERO)


def weighted_quantity(integral: Decimal, period_seconds: Decimal) -> Decimal:
    """Return ``integral ÷ period_seconds`` (the time-weighted average), to 12 decimal places."""
    if period_seconds <= 0:
        raise ValueError("period_seconds must be positive")
    with localcontext(EXACT_CONTEXT):
        return (integral / period_seconds).quantize(QUANTITY_PLACES, rounding=ROUND_HALF_UP)


def projected_integral(integral: Decimal, level: Decimal, remaining_seconds: Decimal) -> Decimal:
    """Return an estimate's integral: what was integrated so far plus ``level`` held for the rest."""
    with localcontext(EXACT_CONTEXT):
        return integral + level * max(remaining_seconds, ZERO)


def latest_quantity(readings: Sequence[Reading]) -> Decimal:
    """Return the quantity of the last reading (readings in order: timestamp, then arrival); 0 without one."""
    return readings[-1].quantity if readings else ZERO
