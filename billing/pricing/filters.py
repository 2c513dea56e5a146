"""Charge filters (priced dimensions, contract section 14).

An event belongs to the first filter whose every key has the event's ``properties[key]`` among its
values; an event matching no filter is priced by the charge's own model. The ingest keeps, per
event, only the properties the catalog's filters name (its *dimension*); :func:`filter_index`
gives the same answer on that projection as on the full properties, so rollups kept per dimension
price exactly like the raw events would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from billing.pricing.charge_models import ChargeSpec, validate_charge


@dataclass(frozen=True)
class ChargeFilter:
    """One priced dimension of a charge: ``properties`` as ((key, (value, …)), …) and its own pricing."""

    name: str
    properties: tuple[tuple[str, tuple[str, ...]], ...]
    spec: ChargeSpec


def property_text(value: object) -> str:
    """Return how a property value compares with a filter's values: strings as they are, else JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def filter_matches(flt: ChargeFilter, properties: Mapping[str, object]) -> bool:
    """Return whether every key of ``flt`` has the event's property among its values."""
    return all(key in properties and property_text(properties[key]) in values for key, values in flt.properties)


def filter_index(filters: Sequence[ChargeFilter], properties: Mapping[str, object]) -> int | None:
    """Return the index of the first filter the event matches, or ``None`` (the charge's own model)."""
    for i, flt in enumerate(filters):
        if filter_matches(flt, properties):
            return i
    return None


def filter_keys(filters: Iterable[ChargeFilter]) -> set[str]:
    """Return every property key the filters read."""
    return {key for flt in filters for key, _ in flt.properties}


def dimension(keys: Iterable[str], properties: Mapping[str, object]) -> dict[str, object]:
    """Return the projection of ``properties`` on ``keys`` (what the ingest keeps per event)."""
    return {key: properties[key] for key in keys if key in properties}


def filter_errors(filters: Sequence[ChargeFilter]) -> list[str]:
    """Return problems with a charge's filters (each message starts with ``filters[i] (name)``)."""
    errors: list[str] = []
    seen: set[str] = set()
    for i, flt in enumerate(filters):
        where = f"filters[{i}] ({flt.name or '?'})"
        if not flt.name:
            errors.append(f"{where}.name: is required")
        elif flt.name in seen:
            errors.append(f"{where}.name: filter names are unique within a charge")
        seen.add(flt.name)
        if not flt.properties:
            errors.append(f"{where}.properties: at least one key with a list of values is required")
        for key, values in flt.properties:
            if not key or not values:
                errors.append(f"{where}.properties.{key or '?'}: a non-empty list of values is required")
        errors.extend(f"{where}: {message}" for message in validate_charge(flt.spec))
    return errors
