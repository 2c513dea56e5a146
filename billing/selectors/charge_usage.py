"""Read the usage of charges that the plain per-metric totals cannot price (contract section 14).

A charge with filters needs its usage per filter, and `latest` / `weighted_sum` metrics need the
order of events rather than a total. Rows are grouped in SQL by the properties the filters read
(never one row per event, except the readings of a `weighted_sum` metric, which are levels) and
each group is given to the first filter it matches, in Python, with the pure engine's rules.
Result: {metric: {filter index or None: quantity}} where None is the charge's own model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import connection

from billing.models import UsageEvent
from billing.pricing import (
    Level,
    Reading,
    filter_index,
    level_integrals,
    levels_after,
    projected_integral,
    seconds_between,
    weighted_quantity,
)
from billing.selectors.terms import PricedCharge

PLAIN = ("sum", "count", "max", "unique_count")
Quantities = dict[int | None, Decimal]


def needs_own_read(charge: PricedCharge) -> bool:
    """Return whether `charge` is priced here rather than from the plain per-metric totals."""
    return bool(charge.filters) or charge.aggregation not in PLAIN


def _keys(charge: PricedCharge) -> list[str]:
    return sorted({key for flt in charge.filters for key, _ in flt.properties})


def _dims_sql(keys: Sequence[str]) -> tuple[str, list]:
    """Return the select list of the filter keys' property values and its parameters."""
    return "".join(", properties ->> %s" for _ in keys), list(keys)


def _key_of(charge: PricedCharge, keys: Sequence[str], values: Sequence) -> int | None:
    # `properties ->> key` is the value's text: a string as it is, anything else as JSON, which is
    # exactly how the engine compares a property with a filter's values (`property_text`).
    props = {k: v for k, v in zip(keys, values, strict=True) if v is not None}
    return filter_index(charge.filters, props) if charge.filters else None


def _empty(charge: PricedCharge) -> Quantities:
    out: Quantities = {None: Decimal(0)}
    out.update({i: Decimal(0) for i in range(len(charge.filters))})
    return out


def _plain_filtered(cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime) -> Quantities:
    """Return a filtered sum/count/max/unique_count charge's quantity per filter."""
    keys = _keys(charge)
    dims, params = _dims_sql(keys)
    table = UsageEvent._meta.db_table
    distinct = charge.aggregation == "unique_count"
    group = ", unique_key" if distinct else ""
    group_by = ", ".join(str(i + 4) for i in range(len(keys) + distinct))
    cur.execute(
        f"SELECT SUM(quantity), MAX(quantity), COUNT(*){group}{dims} FROM {table} "
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s'
        f"{' AND unique_key IS NOT NULL' if distinct else ''} GROUP BY {group_by}",
        [*params, tenant_id, charge.metric, start, end],
    )
    out = _empty(charge)
    seen: dict[int | None, set] = {}
    for row in cur.fetchall():
        total, top, n = row[:3]
        key = _key_of(charge, keys, row[3 + distinct :])
        if distinct:
            seen.setdefault(key, set()).add(row[3])
        elif charge.aggregation == "sum":
            out[key] += total
        elif charge.aggregation == "count":
            out[key] += n
        else:
            out[key] = max(out[key], top)
    for key, values in seen.items():
        out[key] = Decimal(len(values))
    return out


def _latest(cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime) -> Quantities:
    """Return the quantity of the last event in the window per filter (ties by arrival)."""
    keys = _keys(charge)
    dims, params = _dims_sql(keys)
    order = ", ".join("properties ->> %s" for _ in keys)
    distinct, tail = (f"DISTINCT ON ({order}) ", f"{order}, ") if keys else ("", "")
    limit = "" if keys else " LIMIT 1"
    table = UsageEvent._meta.db_table
    cur.execute(
        f'SELECT {distinct}"timestamp", id, quantity{dims} FROM {table} '
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s '
        f'ORDER BY {tail}"timestamp" DESC, id DESC{limit}',
        [*params, *params, tenant_id, charge.metric, start, end, *params],
    )
    out = _empty(charge)
    last: dict[int | None, tuple] = {}
    for at, pk, quantity, *values in cur.fetchall():
        key = _key_of(charge, keys, values)
        if key not in last or (at, pk) > last[key]:
            last[key] = (at, pk)
            out[key] = quantity
    return out


def _readings(cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime):
    """Return (carry, readings): each resource's level at `start` and the readings in [start, end)."""
    keys = _keys(charge)
    dims, params = _dims_sql(keys)
    table = UsageEvent._meta.db_table
    cur.execute(
        f"SELECT DISTINCT ON (resource_id) resource_id, quantity{dims} FROM {table} "
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" < %s '
        f'ORDER BY resource_id, "timestamp" DESC, id DESC',
        [*params, tenant_id, charge.metric, start],
    )
    carry = {r: Level(q, _key_of(charge, keys, values)) for r, q, *values in cur.fetchall()}
    cur.execute(
        f'SELECT "timestamp", quantity, resource_id{dims} FROM {table} '
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s '
        f'ORDER BY "timestamp", id',
        [*params, tenant_id, charge.metric, start, end],
    )
    readings = [Reading(at, q, r, _key_of(charge, keys, values)) for at, q, r, *values in cur.fetchall()]
    return carry, readings


def _weighted(
    cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime, period_s: Decimal, project_to
) -> Quantities:
    """Return ∫ level dt ÷ period per filter; with `project_to`, the level at `end` is held until then."""
    carry, readings = _readings(cur, tenant_id, charge, start, end)
    integrals: dict[int | None, Decimal] = {}
    for (_, key), value in level_integrals(start=start, end=end, carry=carry, readings=readings).items():
        integrals[key] = integrals.get(key, Decimal(0)) + value
    if project_to is not None and project_to > end:
        remaining = seconds_between(end, project_to)
        for level in levels_after(carry, readings).values():
            integrals[level.key] = projected_integral(integrals.get(level.key, Decimal(0)), level.quantity, remaining)
    out = _empty(charge)
    for key, value in integrals.items():
        out[key] = weighted_quantity(value, period_s)
    return out


def charge_quantities(
    *,
    tenant_id: str,
    start: datetime,
    end: datetime,
    charges: Sequence[PricedCharge],
    period_s: Decimal,
    project_to: datetime | None = None,
) -> dict[str, Quantities]:
    """Return {metric: {filter index or None: quantity}} over [start, end) for charges needing their own read.

    `period_s` is the billing period's length (the `weighted_sum` divisor); `project_to` (an
    estimate) holds each `weighted_sum` level from `end` until then.
    """
    result: dict[str, Quantities] = {}
    if end <= start:
        return {c.metric: _empty(c) for c in charges}
    with connection.cursor() as cur:
        for charge in charges:
            if charge.aggregation == "weighted_sum":
                result[charge.metric] = _weighted(cur, tenant_id, charge, start, end, period_s, project_to)
            elif charge.aggregation == "latest":
                result[charge.metric] = _latest(cur, tenant_id, charge, start, end)
            else:
                result[charge.metric] = _plain_filtered(cur, tenant_id, charge, start, end)
    return result
