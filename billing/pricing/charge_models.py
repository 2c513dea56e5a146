"""Charge models: price one charge's already-aggregated quantity for a billing period.

Aggregation and pricing are separate steps. Each model is a small pure function
``model(spec, quantity) -> RawCharge`` returning the exact, unrounded amount; :func:`price_charge`
picks it from :data:`CHARGE_MODELS`, rounds the line amount once and splits it across the tier
breakdown so the rounded tier amounts add up to the line exactly (contract section 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from billing.pricing.money import EXACT_CONTEXT, allocate, quantize, to_decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Tier:
    """One price tier; ``up_to`` is inclusive and cumulative, ``None`` on the open-ended last tier."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = ZERO


@dataclass(frozen=True)
class ChargeSpec:
    """How a charge is priced: the model name and the fields that model uses."""

    model: str  # "per_unit" | "graduated" | "volume" | "package"
    unit_price: Decimal | None = None
    free_units: Decimal = ZERO
    package_size: Decimal | None = None
    package_price: Decimal | None = None
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class TierLine:
    """The part of a charge priced by one tier (exact in a RawCharge, rounded in a ChargeResult)."""

    quantity: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True)
class RawCharge:
    """The exact, unrounded outcome of a charge model."""

    amount: Decimal
    unit_price: Decimal | None
    tiers: tuple[TierLine, ...] = ()


@dataclass(frozen=True)
class ChargeResult:
    """A priced usage line: ``amount`` and tier amounts are rounded to the currency's minor unit.

    ``quantity`` is the aggregated quantity before free units and packaging. ``unit_price`` is the
    single applicable unit price (per_unit, volume) and ``None`` for graduated and package.
    """

    quantity: Decimal
    amount: Decimal
    unit_price: Decimal | None
    tiers: tuple[TierLine, ...] = ()


def per_unit(spec: ChargeSpec, quantity: Decimal) -> RawCharge:
    """Return ``max(q - free_units, 0) × unit_price``."""
    assert spec.unit_price is not None, "validate_charge requires unit_price for per_unit"
    with localcontext(EXACT_CONTEXT):
        billable = max(quantity - spec.free_units, ZERO)
        return RawCharge(amount=billable * spec.unit_price, unit_price=spec.unit_price)


def graduated(spec: ChargeSpec, quantity: Decimal) -> RawCharge:
    """Return each unit priced by the tier it falls in, plus the flat fee of every tier touched."""
    lines: list[TierLine] = []
    lower = ZERO
    with localcontext(EXACT_CONTEXT):
        for tier in spec.tiers:
            if quantity <= lower:
                break
            upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
            units = upper - lower
            amount = units * tier.unit_price + tier.flat_fee
            lines.append(TierLine(units, tier.unit_price, tier.flat_fee, amount))
            if tier.up_to is None:
                break
            lower = tier.up_to
        total = sum((line.amount for line in lines), ZERO)
    return RawCharge(amount=total, unit_price=None, tiers=tuple(lines))


def volume(spec: ChargeSpec, quantity: Decimal) -> RawCharge:
    """Return all units priced at the tier ``q`` falls in, plus that tier's flat fee (0 when q is 0)."""
    tier = next(t for t in spec.tiers if t.up_to is None or quantity <= t.up_to)
    if quantity == 0:
        return RawCharge(amount=ZERO, unit_price=tier.unit_price)
    with localcontext(EXACT_CONTEXT):
        amount = quantity * tier.unit_price + tier.flat_fee
    line = TierLine(quantity, tier.unit_price, tier.flat_fee, amount)
    return RawCharge(amount=amount, unit_price=tier.unit_price, tiers=(line,))


def package(spec: ChargeSpec, quantity: Decimal) -> RawCharge:
    """Return ``ceil(max(q - free_units, 0) / package_size) × package_price``."""
    assert spec.package_size is not None and spec.package_price is not None, "validate_charge requires both"
    with localcontext(EXACT_CONTEXT):
        billable = max(quantity - spec.free_units, ZERO)
        # divmod is exact, unlike a rounded division followed by a ceiling.
        whole, rest = divmod(billable, spec.package_size)
        packages = whole + (1 if rest else 0)
        return RawCharge(amount=packages * spec.package_price, unit_price=None)


CHARGE_MODELS: dict[str, Callable[[ChargeSpec, Decimal], RawCharge]] = {
    "per_unit": per_unit,
    "graduated": graduated,
    "volume": volume,
    "package": package,
}

_TIERED = ("graduated", "volume")


def price_charge(spec: ChargeSpec, quantity: Decimal, currency: str) -> ChargeResult:
    """Return the usage line for ``quantity``: amount rounded once, tier amounts summing to it.

    Raises ``ValueError`` for an invalid spec (see :func:`validate_charge`) or a negative quantity.
    """
    errors = validate_charge(spec)
    if errors:
        raise ValueError("invalid charge: " + "; ".join(errors))
    quantity = to_decimal(quantity)
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    raw = CHARGE_MODELS[spec.model](spec, quantity)
    amount = quantize(raw.amount, currency)
    tiers: tuple[TierLine, ...] = ()
    if raw.tiers:
        parts = allocate(amount, [line.amount for line in raw.tiers], currency)
        tiers = tuple(replace(line, amount=part) for line, part in zip(raw.tiers, parts, strict=False))
    return ChargeResult(quantity=quantity, amount=amount, unit_price=raw.unit_price, tiers=tiers)


def validate_charge(spec: ChargeSpec) -> list[str]:  # noqa: C901 - one flat check per rule of a charge
    """Return human-readable problems with ``spec`` (empty when it can be priced).

    Each message starts with the offending field (``tiers.1.up_to: …``), as the catalog loader
    reports them.
    """
    if spec.model not in CHARGE_MODELS:
        return [f"model: unknown charge model {spec.model!r}; expected one of {', '.join(CHARGE_MODELS)}"]
    errors: list[str] = []
    if spec.free_units is None or spec.free_units < 0:
        errors.append("free_units: must be zero or more")
    elif spec.free_units and spec.model in _TIERED:
        errors.append(f"free_units: not used by {spec.model} charges; use a zero-priced first tier")
    if spec.model == "per_unit":
        if spec.unit_price is None:
            errors.append("unit_price: required for per_unit charges")
        elif spec.unit_price < 0:
            errors.append("unit_price: must not be negative")
    elif spec.unit_price is not None:
        errors.append(f"unit_price: not used by {spec.model} charges")
    if spec.model == "package":
        if spec.package_size is None or spec.package_size <= 0:
            errors.append("package_size: must be greater than zero")
        if spec.package_price is None or spec.package_price < 0:
            errors.append("package_price: required and must not be negative")
    elif spec.package_size is not None or spec.package_price is not None:
        errors.append(f"package_size/package_price: not used by {spec.model} charges")
    if spec.model in _TIERED:
        errors.extend(_tier_errors(spec.tiers))
    elif spec.tiers:
        errors.append(f"tiers: not used by {spec.model} charges")
    return errors


def _tier_errors(tiers: tuple[Tier, ...]) -> list[str]:
    """Return the problems of a tier table: ordering, open-ended last tier, negative prices."""
    if not tiers:
        return ["tiers: at least one tier is required"]
    errors: list[str] = []
    previous = ZERO
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.up_to is None and not last:
            errors.append(f"tiers.{i}.up_to: only the last tier may be open-ended (null)")
        elif tier.up_to is not None and last:
            errors.append(f"tiers.{i}.up_to: the last tier must be open-ended (null)")
        if tier.up_to is not None:
            if tier.up_to <= previous:
                errors.append(f"tiers.{i}.up_to: must be greater than {previous} (tiers in ascending order)")
            previous = max(previous, tier.up_to)
        if tier.unit_price is None or tier.unit_price < 0:
            errors.append(f"tiers.{i}.unit_price: required and must not be negative")
        if tier.flat_fee is None or tier.flat_fee < 0:
            errors.append(f"tiers.{i}.flat_fee: must not be negative")
    return errors
