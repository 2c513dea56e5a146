"""Filtered charges read from the rollups per priced dimension (contract section 14).

Whole hours come from `UsageDimHourly` (or `UsageDimRollup` per resource or cost center), the
partial hours at a window's edges from raw events, as the other rollups are read. A row's `dims`
holds the text of each priced key's value, which is all a filter compares, and the metric's priced
keys include every key of the charge's filters (checked), so the first filter a row matches is the
one each of its events matches: the lines are exact. Every function returns None when the rollups
cannot answer exactly (the metric's priced keys lack one of the charge's, or the window reaches
before the hour from which the tenant's rows were rebuilt); the caller then reads raw events.
`unique_count` quantities need the distinct values, which no rollup holds: they stay on raw events
(except per resource or cost center, where a distinct count is shared out by each key's events).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from billing.models import Metric, UsageDimCoverage, UsageDimHourly, UsageDimRollup, UsageEvent
from billing.pricing import filter_index
from billing.selectors.terms import PricedCharge
from billing.selectors.usage.windows import HOUR, floor_hour, split_edges

#: Aggregations whose quantity the rollups' sum, max and count give.
ROLLUP_AGGREGATIONS = ("sum", "count", "max")
#: (filter index or None, resource/cost center or None, hour/timestamp or None) -> [sum, max, count]
Folded = dict[tuple, list]


def _keys(charge: PricedCharge) -> list[str]:
    return sorted({key for flt in charge.filters for key, _ in flt.properties})


def _whole_rows(cur, tenant_id: str, charge: PricedCharge, span: tuple, by, hourly: bool, tail=None):
    """Return ((dims, [by], [hour], sum, max, count) rows, whether `tail` was read), or None if not exact.

    `span` is the whole hours [start, end). `tail`, the partial hour [end, now) at the end of a
    window (a preview's current hour), is read from its rollup rows too when no event is stamped
    after it in that hour: those rows then hold exactly its events. The checks (keys, coverage, later
    events) and the read are one statement, so they see one snapshot. The read always covers [start,
    end + 1 h) and flags the tail hour's rows (a constant range the planner estimates well, where a
    bound chosen inside the statement made it expect a handful of rows and sort thousands); `dims`
    comes back as jsonb's canonical text, which groups like the jsonb and compares far faster.
    """
    start, end = span
    table = (UsageDimRollup if by else UsageDimHourly)._meta.db_table
    extra = (f", r.{by}" if by else "") + (", r.hour" if hourly else "")
    later = (
        f"EXISTS (SELECT 1 FROM {UsageEvent._meta.db_table} WHERE tenant_id = %(t)s AND metric_id = %(m)s "
        f'AND "timestamp" >= %(now)s AND "timestamp" < %(hour_end)s)'
        if tail
        else "TRUE"
    )
    cur.execute(
        f"""
        WITH ok AS (
            SELECT EXISTS (SELECT 1 FROM {Metric._meta.db_table}
                            WHERE code = %(m)s AND dimension_keys @> %(keys)s::jsonb)
               AND NOT EXISTS (SELECT 1 FROM {UsageDimCoverage._meta.db_table}
                                WHERE tenant_id = %(t)s AND metric_id = %(m)s AND valid_from > %(s)s) AS covered,
                   {later} AS later
        )
        SELECT ok.covered, ok.later, r.hour >= %(e)s, r.dims::text{extra},
               SUM(r.quantity_sum), MAX(r.quantity_max), SUM(r.event_count)
        FROM ok LEFT JOIN {table} r
          ON ok.covered AND r.tenant_id = %(t)s AND r.metric_id = %(m)s AND r.hour >= %(s)s AND r.hour < %(hour_end)s
        GROUP BY 1, 2, 3, 4{extra}
        """,
        {
            "t": tenant_id,
            "m": charge.metric,
            "keys": json.dumps(_keys(charge)),
            "s": start,
            "e": end,
            "now": tail[1] if tail else end,
            "hour_end": end + HOUR,
        },
    )
    rows = cur.fetchall()
    if not rows[0][0]:
        return None
    later = rows[0][1]
    # The tail hour's rows (in_tail) count only when no event is stamped after the tail in it.
    return [row[3:] for row in rows if row[3] is not None and not (later and row[2])], bool(tail) and not later


def _raw_rows(cur, tenant_id: str, charge: PricedCharge, lo: datetime, hi: datetime, by, timed: bool) -> list:
    """Return (dims, [by], [timestamp], sum, max, count) rows of the raw events in [lo, hi)."""
    keys = _keys(charge)
    extra = ([by] if by else []) + (['"timestamp"'] if timed else [])
    n = len(extra)
    groups = [str(i + 1) for i in range(n)] + [str(n + 4 + i) for i in range(len(keys))]
    cur.execute(
        f"SELECT {''.join(f'{c}, ' for c in extra)}SUM(quantity), MAX(quantity), COUNT(*)"
        f"{''.join(', properties ->> %s' for _ in keys)} FROM {UsageEvent._meta.db_table} "
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s '
        f"GROUP BY {', '.join(groups)}",
        [*keys, tenant_id, charge.metric, lo, hi],
    )
    out = []
    for row in cur.fetchall():
        dims = {k: v for k, v in zip(keys, row[n + 3 :], strict=True) if v is not None}
        out.append((dims, *row[: n + 3]))
    return out


def _fold(acc: Folded, charge: PricedCharge, rows, by, timed: bool) -> None:
    """Fold (dims, [by], [at], sum, max, count) rows into `acc` by (filter index, by value, at)."""
    seen: dict[str, int | None] = {}
    for dims, *rest in rows:
        text = dims if isinstance(dims, str) else json.dumps(dims, sort_keys=True)
        if text not in seen:
            seen[text] = filter_index(charge.filters, json.loads(text))
        group = rest.pop(0) if by else None
        at = rest.pop(0) if timed else None
        s, mx, n = rest
        slot = acc.get((seen[text], group, at))
        if slot is None:
            slot = acc[(seen[text], group, at)] = [Decimal(0), Decimal(0), 0]
        slot[0] += s or 0
        slot[1] = max(slot[1], mx or 0)
        slot[2] += int(n or 0)


def _read(cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime, *, by=None, cuts=()):
    """Return the window's rows folded by (filter index, by value, hour or timestamp if `cuts`), or None.

    With `cuts`, rows carry when they happened: a whole hour's rows its start (no cut falls inside
    it: an hour with a cut inside is read from raw events), raw rows their timestamp.
    """
    if not charge.filters:
        return None
    timed = bool(cuts)
    acc: Folded = {}
    whole_start, whole_end, raw_ranges = split_edges(start, end)
    # The window's last partial hour, when it starts on the hour (a preview's current hour).
    tail = raw_ranges[-1] if raw_ranges and raw_ranges[-1][0] == whole_end and not timed else None
    if whole_start < whole_end or tail:
        read = _whole_rows(cur, tenant_id, charge, (whole_start, whole_end), by, timed, tail)
        if read is None:
            return None
        rows, tail_read = read
        split = {floor_hour(c) for c in cuts if whole_start < c < whole_end and c != floor_hour(c)}
        _fold(acc, charge, [r for r in rows if not timed or r[-4] not in split], by, timed)
        raw_ranges = [*raw_ranges[: -1 if tail_read else None], *((h, h + HOUR) for h in sorted(split))]
    for lo, hi in raw_ranges:
        _fold(acc, charge, _raw_rows(cur, tenant_id, charge, lo, hi, by, timed), by, timed)
    return acc


def _value(aggregation: str, folded: list) -> Decimal:
    s, mx, n = folded
    return Decimal(s) if aggregation == "sum" else Decimal(mx) if aggregation == "max" else Decimal(n)


def dim_quantities(cur, tenant_id: str, charge: PricedCharge, start: datetime, end: datetime):
    """Return {filter index or None: quantity} of a filtered sum/count/max charge, or None (read raw)."""
    if charge.aggregation not in ROLLUP_AGGREGATIONS:
        return None
    acc = _read(cur, tenant_id, charge, start, end)
    if acc is None:
        return None
    out: dict[int | None, Decimal] = {None: Decimal(0), **{i: Decimal(0) for i in range(len(charge.filters))}}
    for (key, _, _), folded in acc.items():
        value = _value(charge.aggregation, folded)
        out[key] = max(out[key], value) if charge.aggregation == "max" else out[key] + value
    return out


def dim_quantities_by(cur, tenant_id: str, charge: PricedCharge, key, start: datetime, end: datetime, dimension: str):
    """Return {resource id or cost center: quantity} of one line of a filtered charge, or None (read raw).

    `unique_count` gives each key's number of events, as the per-key plain lines do.
    """
    if charge.aggregation not in (*ROLLUP_AGGREGATIONS, "unique_count"):
        return None
    acc = _read(cur, tenant_id, charge, start, end, by=dimension)
    if acc is None:
        return None
    return {group: _value(charge.aggregation, folded) for (k, group, _), folded in acc.items() if k == key}


def dim_series(
    cur, tenant_id: str, charge: PricedCharge, key, start: datetime, end: datetime, cuts: Sequence[datetime]
):
    """Return one line's quantity over [start, cut) for each ascending cut, or None (read raw)."""
    if charge.aggregation not in ROLLUP_AGGREGATIONS or not cuts:
        return None
    acc = _read(cur, tenant_id, charge, start, end, cuts=cuts)
    if acc is None:
        return None
    items = sorted((at, folded) for (k, _, at), folded in acc.items() if k == key)
    out, running, i = [], Decimal(0), 0
    for cut in cuts:
        while i < len(items) and items[i][0] < cut:
            value = _value(charge.aggregation, items[i][1])
            running = max(running, value) if charge.aggregation == "max" else running + value
            i += 1
        out.append(running)
    return out
