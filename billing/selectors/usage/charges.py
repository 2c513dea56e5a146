"""Read the usage of charges that the plain per-metric totals cannot price (contract section 14).

A charge with filters needs its usage per filter, and `latest` / `weighted_sum` metrics need the
order of events rather than a total. Filtered sum/count/max charges read the
rollups per priced dimension (`priced.py`) and fall back to the code below when those cannot answer
exactly; here, rows are grouped in SQL by the properties the filters read (never one row per event,
except the readings of a `weighted_sum` metric, which are levels) and each group is given to the
first filter it matches, in Python, with the pure engine's rules.
Result: {metric: {filter index or None: quantity}} where None is the charge's own model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from typing import cast

from django.db import connection

from billing.models import UsageEvent
from billing.models.usage_levels import LEVEL_AGGREGATIONS
from billing.pricing import (
    ChargeSpec,
    Level,
    Reading,
    filter_index,
    level_integrals,
    levels_after,
    projected_integral,
    seconds_between,
    weighted_quantity,
)
from billing.pricing.money import EXACT_CONTEXT
from billing.selectors.terms import PricedCharge
from billing.selectors.usage.levels import (
    event_count,
    last_reading,
    level_integrals_read,
    line_levels_by,
    line_levels_series,
)
from billing.selectors.usage.priced import dim_quantities, dim_quantities_by, dim_series

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
    rolled = dim_quantities(cur, tenant_id, charge, start, end)
    if rolled is not None:
        return rolled
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
    if not charge.filters:
        reading = last_reading(cur, tenant_id, charge.metric, start, end)
        return {None: Decimal(0) if reading is None else reading[2]}
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


def _readings(cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime, column: str | None = None):
    """Return (carry, readings): each resource's level at `start` and the readings in [start, end).

    A reading's key is its filter index, or (filter index, `column`'s value) when `column` is given.
    """
    keys = _keys(charge)
    dims, params = _dims_sql(keys)
    extra = f", {column}" if column else ""
    table = UsageEvent._meta.db_table

    def key(values):
        return (_key_of(charge, keys, values[1:]), values[0]) if column else _key_of(charge, keys, values)

    cur.execute(
        f"SELECT DISTINCT ON (resource_id) resource_id, quantity{extra}{dims} FROM {table} "
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" < %s '
        f'ORDER BY resource_id, "timestamp" DESC, id DESC',
        [*params, tenant_id, charge.metric, start],
    )
    carry = {r: Level(q, key(values)) for r, q, *values in cur.fetchall()}
    cur.execute(
        f'SELECT "timestamp", quantity, resource_id{extra}{dims} FROM {table} '
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s '
        f'ORDER BY "timestamp", id',
        [*params, tenant_id, charge.metric, start, end],
    )
    readings = [Reading(at, q, r, key(values)) for at, q, r, *values in cur.fetchall()]
    return carry, readings


def _weighted(
    cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime, period_s: Decimal, project_to
) -> Quantities:
    """Return ∫ level dt ÷ period per filter; with `project_to`, the level at `end` is held until then.

    An unfiltered charge reads the level rollup (`levels.py`); a filtered one folds the raw readings.
    """
    integrals: dict[int | None, Decimal] = {}
    if charge.filters:
        carry, readings = _readings(cur, tenant_id, charge, start, end)
        with localcontext(EXACT_CONTEXT):
            for (_, key), value in level_integrals(start=start, end=end, carry=carry, readings=readings).items():
                integrals[key] = integrals.get(key, Decimal(0)) + value
        after = levels_after(carry, readings)
    else:
        read = level_integrals_read(cur, tenant_id, charge.metric, start, end)
        with localcontext(EXACT_CONTEXT):
            integrals[None] = sum(read.slots.values(), Decimal(0))
        after = {r: Level(level.quantity, None) for r, level in read.levels_end.items()}
    if project_to is not None and project_to > end:
        remaining = seconds_between(end, project_to)
        for level in after.values():
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


def metric_charge(metric) -> PricedCharge:
    """Return a metric as an unfiltered charge, to read its quantity with `charge_quantities`."""
    return PricedCharge(
        metric=metric.code,
        metric_name=metric.code,
        aggregation=metric.aggregation,
        field=metric.field or "",
        spec=ChargeSpec("per_unit", unit_price=Decimal(0)),
    )


def level_events(*, tenant_id: str, metric: str, start: datetime, end: datetime) -> int:
    """Return the number of events of `metric` (a level metric) in [start, end)."""
    with connection.cursor() as cur:
        return event_count(cur, tenant_id, metric, start, end)


def _weighted_by(cur, tenant_id, charge, key, start, end, period_s, dimension) -> dict[str, Decimal]:
    """Return a filtered weighted_sum line's quantity per resource or cost center (the raw readings folded)."""
    carry, readings = _readings(cur, tenant_id, charge, start, end, column=dimension)
    integrals = level_integrals(start=start, end=end, carry=carry, readings=readings)
    out: dict[str, Decimal] = {}
    with localcontext(EXACT_CONTEXT):  # each part's integral exactly, then ÷ the period once
        for (resource, slot), value in integrals.items():
            fk, group = cast(tuple[int | None, str], slot)
            if fk == key:
                part = resource if dimension == "resource_id" else group
                out[part] = out.get(part, Decimal(0)) + value
    return {part: value / period_s for part, value in out.items()}


def line_quantities_by(
    *,
    tenant_id: str,
    start: datetime,
    end: datetime,
    charge: PricedCharge,
    key: int | None,
    period_s: Decimal,
    dimension: str,
) -> dict[str, Decimal]:
    """Return {resource id or cost-center code ('' for none): quantity} of one line of a charge read here.

    The line is the charge's own part (`key` None) or one filter's. `weighted_sum` splits the
    integral by the resource (or the cost center of the reading) that held each piece of level;
    `latest` gives it all to the last event's key; other aggregations group the events (a distinct
    count by each key's events, as the plain lines do).
    """
    table = UsageEvent._meta.db_table
    keys = _keys(charge)
    dims, params = _dims_sql(keys)
    out: dict[str, Decimal] = {}
    if end <= start:
        return out
    if charge.aggregation in LEVEL_AGGREGATIONS and not charge.filters:
        window = {"tenant_id": tenant_id, "metric": charge.metric, "start": start, "end": end, "period_s": period_s}
        return line_levels_by(aggregation=charge.aggregation, dimension=dimension, **window)
    with connection.cursor() as cur:
        if charge.aggregation == "weighted_sum":
            return _weighted_by(cur, tenant_id, charge, key, start, end, period_s, dimension)
        if charge.aggregation == "latest":
            cur.execute(
                f"SELECT {dimension}, quantity{dims} FROM {table} WHERE tenant_id = %s AND metric_id = %s "
                f'AND "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp" DESC, id DESC',
                [*params, tenant_id, charge.metric, start, end],
            )
            for group, quantity, *values in cur:
                if _key_of(charge, keys, values) == key:
                    return {group: quantity}
            return out
        rolled = dim_quantities_by(cur, tenant_id, charge, key, start, end, dimension)
        if rolled is not None:
            return rolled
        cur.execute(
            f"SELECT {dimension}, SUM(quantity), MAX(quantity), COUNT(*){dims} FROM {table} "
            f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s '
            f"GROUP BY {', '.join(['1', *(str(i + 5) for i in range(len(keys)))])}",
            [*params, tenant_id, charge.metric, start, end],
        )
        for group, total, top, n, *values in cur.fetchall():
            if _key_of(charge, keys, values) != key:
                continue
            value = total if charge.aggregation == "sum" else top if charge.aggregation == "max" else Decimal(n)
            out[group] = max(out.get(group, value), value) if charge.aggregation == "max" else out.get(group, 0) + value
    return out


def _weighted_series(cur, tenant_id, charge, key, start, end, period_s, cuts) -> list[Decimal]:
    """Return a filtered weighted_sum line's quantity up to each cut (the raw readings folded)."""
    carry, readings = _readings(cur, tenant_id, charge, start, end)
    out, total, lo, level, i = [], Decimal(0), start, carry, 0
    for cut in cuts:
        inside = []
        while i < len(readings) and readings[i].at < cut:
            inside.append(readings[i])
            i += 1
        if cut > lo:
            part = level_integrals(start=lo, end=cut, carry=level, readings=inside)
            total += sum((v for (_, k), v in part.items() if k == key), Decimal(0))
            level, lo = levels_after(level, inside), cut
        out.append(weighted_quantity(total, period_s))
    return out


def line_series(
    *,
    tenant_id: str,
    start: datetime,
    end: datetime,
    charge: PricedCharge,
    key: int | None,
    period_s: Decimal,
    edges: Sequence[datetime],
) -> list[Decimal]:
    """Return the line's quantity over [start, min(edge, end)) for each of the ascending `edges`."""
    table = UsageEvent._meta.db_table
    keys = _keys(charge)
    dims, params = _dims_sql(keys)
    if charge.aggregation in LEVEL_AGGREGATIONS and not charge.filters:
        window = {"tenant_id": tenant_id, "metric": charge.metric, "start": start, "end": end, "period_s": period_s}
        return line_levels_series(aggregation=charge.aggregation, edges=edges, **window)
    cuts = [min(max(edge, start), end) for edge in edges]
    with connection.cursor() as cur:
        if charge.aggregation == "weighted_sum":
            return _weighted_series(cur, tenant_id, charge, key, start, end, period_s, cuts)
        rolled = dim_series(cur, tenant_id, charge, key, start, end, cuts)
        if rolled is not None:
            return rolled
        cur.execute(
            f'SELECT "timestamp", quantity, unique_key{dims} FROM {table} WHERE tenant_id = %s AND metric_id = %s '
            f'AND "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp", id',
            [*params, tenant_id, charge.metric, start, end],
        )
        rows = [(at, q, u) for at, q, u, *values in cur.fetchall() if _key_of(charge, keys, values) == key]
    return _running_series(rows, cuts, charge.aggregation)


def _running_series(rows: list[tuple], cuts: Sequence[datetime], aggregation: str) -> list[Decimal]:
    """Return the quantity of the (timestamp, quantity, unique_key) `rows` before each cut."""
    out, running, seen, i = [], Decimal(0), set(), 0
    for cut in cuts:
        while i < len(rows) and rows[i][0] < cut:
            at, q, u = rows[i]
            i += 1
            if aggregation == "sum":
                running += q
            elif aggregation == "count":
                running += 1
            elif aggregation in ("max",):
                running = max(running, q)
            elif aggregation == "latest":
                running = q
            elif u is not None and u not in seen:
                seen.add(u)
                running += 1
        out.append(running)
    return out
