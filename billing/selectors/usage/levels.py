"""Read `latest` / `weighted_sum` metrics: whole hours from the level rollup, partial edge hours raw.

`UsageLevel` keeps, per (resource, cost center, hour), the hour's integral after its first reading,
that first reading's time, the last reading (time, event id, quantity) and the count. Over the whole
hours [w0, w1) of a window, with times t measured in seconds from w0, a resource's level is a step
function, and its integral up to any hour edge E is a sum of linear terms k + d·E:

- each row's own `integral` (the hour after its first reading): k = integral, d = 0;
- the level held before the hour's first reading f (the previous row's end level p, or the level
  carried in from before w0): it is switched off at f: k = p·f, d = −p;
- the hour's end level e (its last reading) is switched on at the hour's end h+1h: k = −e·(h+1h), d = e;
- the carried-in level c is switched on at w0: k = 0, d = c.

A term of a row of hour h counts for every edge E > h (then E ≥ h+1h ≥ f), so one SQL statement
(window functions for "the previous row") sums the terms of a window, per group and hour if asked;
the integral to E is Σ k + E·Σ d over the rows before E. Everything is exact numeric arithmetic: the
same number as folding the raw readings (`billing.pricing.level_integrals`), which is still how the
partial hours at a window's edges are read (raw events through the (tenant, metric, timestamp) index),
starting from each resource's level at the edge's hour (the rollup's last row before it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from django.db import connection

from billing.models import UsageEvent, UsageLevel
from billing.pricing import Level, Reading, level_integrals, levels_after, seconds_between, weighted_quantity
from billing.pricing.money import EXACT_CONTEXT
from billing.selectors.usage.windows import HOUR, floor_hour, split_edges

ZERO = Decimal(0)
#: (resource_id, cost_center): the slot a piece of level belongs to (as `level_integrals` keys it).
Slot = tuple[str, str]
#: a reading's place in time: (timestamp, event id), ties by arrival.
Last = tuple[datetime, int, Decimal, str, str]


def _levels_cte(bound: str) -> str:
    """Return CTEs ending in `carry(resource_id, level, cc)`: each resource's level at `%(bound)s` (an
    hour), i.e. its last reading before it, from the rollup's end-of-hour rows: a loose index scan
    over the resources of the partial (tenant, metric, resource, hour) index."""
    lv = UsageLevel._meta.db_table
    scope = f"tenant_id = %(t)s AND metric_id = %(m)s AND end_of_hour AND hour < %({bound})s"
    return f"""res(r) AS (
        (SELECT resource_id FROM {lv} WHERE {scope} ORDER BY resource_id LIMIT 1)
        UNION ALL
        SELECT (SELECT resource_id FROM {lv} WHERE {scope} AND resource_id > res.r ORDER BY resource_id LIMIT 1)
        FROM res WHERE res.r IS NOT NULL
    ), carry AS (
        SELECT res.r AS resource_id, x.last_quantity AS level, x.cost_center AS cc, x.hour, x.cum_integral AS cum
        FROM res CROSS JOIN LATERAL (
            SELECT last_quantity, cost_center, hour, cum_integral FROM {lv} WHERE {scope} AND resource_id = res.r
            ORDER BY hour DESC LIMIT 1
        ) x WHERE res.r IS NOT NULL
    )"""


def levels_at(cur, tenant_id: str, metric: str, at: datetime) -> dict[str, Level]:
    """Return {resource: Level(quantity, cost center)} at `at` (an hour) from the rollup."""
    return _state_at(cur, tenant_id, metric, at)[0]


def _state_at(cur, tenant_id: str, metric: str, at: datetime) -> tuple[dict[str, Level], dict[str, Decimal]]:
    """Return ({resource: Level at `at`}, {resource: ∫ level dt from its first reading to `at`}), `at`
    an hour: the last end-of-hour row's cumulative integral plus its level held since that hour's end."""
    cur.execute(
        f"WITH RECURSIVE {_levels_cte('x')} SELECT resource_id, level, cc, hour, cum FROM carry",
        {"t": tenant_id, "m": metric, "x": at},
    )
    levels, integrals = {}, {}
    with localcontext(EXACT_CONTEXT):
        for r, q, cc, hour, cum in cur.fetchall():
            levels[r] = Level(q, cc)
            integrals[r] = cum + q * seconds_between(hour + HOUR, at)
    return levels, integrals


_SECONDS = "EXTRACT(EPOCH FROM {} - %(w0)s)"


def _steps_sql() -> str:
    """Return the CTE `steps`: the window's end-of-hour rows, one per (resource, hour) with readings,
    with the previous one's level and cost center (`p`, `p_cc`; NULL for a resource's first)."""
    lv = UsageLevel._meta.db_table
    return f"""steps AS (
        SELECT resource_id, hour, hour_first_at AS f, hour_integral AS i, last_quantity AS e, cost_center AS cc,
               lag(last_quantity) OVER w AS p, lag(cost_center) OVER w AS p_cc
        FROM {lv} WHERE tenant_id = %(t)s AND metric_id = %(m)s AND end_of_hour AND hour >= %(w0)s AND hour < %(w1)s
        WINDOW w AS (PARTITION BY resource_id ORDER BY hour)
    )"""


def _terms_sql(keys: Sequence[str]) -> str:
    """Return the whole hours' Σk, Σd per `keys` (of resource_id, hour): one term per (resource,
    hour) row (its integral, the previous level switched off at its first reading, its own switched
    on at the hour's end), and the carried-in level, switched on at w0 and off at the first row."""
    group = f" GROUP BY {', '.join(keys)}" if keys else ""
    f, end = _SECONDS.format("f"), _SECONDS.format("hour + interval '1 hour'")
    return f"""
    WITH RECURSIVE {_levels_cte("w0")}, {_steps_sql()}, terms (resource_id, hour, k, d) AS (
        SELECT resource_id, hour, i + coalesce(p, 0) * {f} - e * {end}, e - coalesce(p, 0) FROM steps
        UNION ALL
        SELECT resource_id, %(w0)s, 0, level FROM carry
        UNION ALL
        SELECT s.resource_id, s.hour, c.level * {f}, -c.level FROM steps s JOIN carry c USING (resource_id)
        WHERE s.p IS NULL
    )
    SELECT {", ".join([*keys, "sum(k)", "sum(d)"])} FROM terms{group}
    """


def _slot_terms_sql() -> str:
    """Return the whole hours' Σk, Σd per (resource_id, cost center): as `_terms_sql`, with each
    row's own integral split by cost center and a level's pieces given to its reading's cost center."""
    lv = UsageLevel._meta.db_table
    f, end = _SECONDS.format("f"), _SECONDS.format("hour + interval '1 hour'")
    return f"""
    WITH RECURSIVE {_levels_cte("w0")}, {_steps_sql()}, terms (resource_id, cc, k, d) AS (
        SELECT resource_id, cost_center, integral, 0::numeric FROM {lv}
        WHERE tenant_id = %(t)s AND metric_id = %(m)s AND hour >= %(w0)s AND hour < %(w1)s
        UNION ALL
        SELECT resource_id, p_cc, p * {f}, -p FROM steps WHERE p IS NOT NULL
        UNION ALL
        SELECT resource_id, cc, -e * {end}, e FROM steps
        UNION ALL
        SELECT resource_id, cc, 0, level FROM carry
        UNION ALL
        SELECT s.resource_id, c.cc, c.level * {f}, -c.level FROM steps s JOIN carry c USING (resource_id)
        WHERE s.p IS NULL
    )
    SELECT resource_id, cc, sum(k), sum(d) FROM terms GROUP BY 1, 2
    """


def _raw(cur, tenant_id: str, metric: str, lo: datetime, hi: datetime) -> list[tuple]:
    """Return the readings in [lo, hi) as (timestamp, id, quantity, resource_id, cost_center), in order."""
    cur.execute(
        f'SELECT "timestamp", id, quantity, resource_id, cost_center FROM {UsageEvent._meta.db_table} '
        f'WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s AND "timestamp" < %s ORDER BY "timestamp", id',
        [tenant_id, metric, lo, hi],
    )
    return cur.fetchall()


def _readings(rows: Sequence[tuple]) -> list[Reading]:
    return [Reading(at, q, r, cc) for at, _, q, r, cc in rows]


@dataclass
class _Edges:
    """A window [start, end) cut into its raw head, its whole hours [w0, w1) and its raw tail, with the
    levels at the head's start and the tail's start (w1)."""

    start: datetime
    end: datetime
    w0: datetime
    w1: datetime
    head: list[tuple] = field(default_factory=list)
    head_carry: dict[str, Level] = field(default_factory=dict)
    tail: list[tuple] = field(default_factory=list)
    tail_carry: dict[str, Level] = field(default_factory=dict)
    tail_integrals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def whole(self) -> bool:
        return self.w0 < self.w1

    @property
    def head_end(self) -> datetime:
        return self.w0 if self.whole else self.end


def _edges(cur, tenant_id: str, metric: str, start: datetime, end: datetime) -> _Edges:
    """Return the window's raw parts (a head only when it does not cover a whole hour)."""
    w0, w1, _ = split_edges(start, end)
    edges = _Edges(start, end, w0, w1)
    if start < edges.head_end:
        hour = floor_hour(start)
        rows = _raw(cur, tenant_id, metric, hour, edges.head_end)
        before = [row for row in rows if row[0] < start]
        edges.head = rows[len(before) :]
        edges.head_carry = levels_after(levels_at(cur, tenant_id, metric, hour), _readings(before))
    if edges.whole and w1 < end:
        edges.tail = _raw(cur, tenant_id, metric, w1, end)
        edges.tail_carry, edges.tail_integrals = _state_at(cur, tenant_id, metric, w1)
    return edges


def _add(acc: dict, key, value: Decimal) -> None:
    if value:
        acc[key] = acc.get(key, ZERO) + value


def _params(tenant_id: str, metric: str, edges: _Edges) -> dict:
    return {"t": tenant_id, "m": metric, "w0": edges.w0, "w1": edges.w1}


@dataclass(frozen=True)
class LevelIntegrals:
    """∫ level dt over a window per slot, and each resource's level at its end."""

    slots: dict[Slot, Decimal]
    levels_end: dict[str, Level]


def _fold_raw(out: dict[Slot, Decimal], pieces: dict, group: str) -> None:
    """Add `level_integrals` pieces ((resource, cost center) slots) to `out` under `group`'s slots."""
    for (resource, cc), value in pieces.items():
        _add(out, ("", "") if group == "total" else (resource, "") if group == "resource" else (resource, cc), value)


def level_integrals_read(
    cur, tenant_id: str, metric: str, start: datetime, end: datetime, group: str = "total"
) -> LevelIntegrals:
    """Return the integrals over [start, end) in unit·seconds, exactly (zero pieces left out), and the
    levels at `end` (what an estimate holds to the period's end). Slots are ("", "") for the `total`,
    (resource, "") per `resource`, or (resource, cost center) per `slot`."""
    edges = _edges(cur, tenant_id, metric, start, end)
    out: dict[Slot, Decimal] = {}
    with localcontext(EXACT_CONTEXT):
        if start < edges.head_end:
            head = level_integrals(
                start=start, end=edges.head_end, carry=edges.head_carry, readings=_readings(edges.head)
            )
            _fold_raw(out, head, group)
        if not edges.whole:
            return LevelIntegrals(out, levels_after(edges.head_carry, _readings(edges.head)))
        if group == "slot":
            span = seconds_between(edges.w0, edges.w1)
            cur.execute(_slot_terms_sql(), _params(tenant_id, metric, edges))
            for resource, cc, k, d in cur.fetchall():
                _add(out, (resource, cc), k + d * span)
        levels_end: dict[str, Level] = edges.tail_carry
        if edges.w1 == end:
            levels_end, edges.tail_integrals = _state_at(cur, tenant_id, metric, end)
        if group != "slot":  # per resource: the difference of its cumulative integrals at w1 and w0
            before = _state_at(cur, tenant_id, metric, edges.w0)[1]
            for resource, upto in edges.tail_integrals.items():
                _add(out, (resource if group == "resource" else "", ""), upto - before.get(resource, ZERO))
        if edges.w1 == end:
            return LevelIntegrals(out, levels_end)
        tail = level_integrals(start=edges.w1, end=end, carry=edges.tail_carry, readings=_readings(edges.tail))
        _fold_raw(out, tail, group)
    return LevelIntegrals(out, levels_after(edges.tail_carry, _readings(edges.tail)))


def _raw_prefix(lo: datetime, cut: datetime, carry: dict[str, Level], rows: Sequence[tuple]) -> Decimal:
    """Return the total ∫ level dt over [lo, cut) of raw `rows` (in order) starting from `carry`."""
    inside = _readings([row for row in rows if row[0] < cut])
    return sum(level_integrals(start=lo, end=cut, carry=carry, readings=inside).values(), ZERO)


def cumulative_integrals(cur, tenant_id: str, metric: str, start: datetime, end: datetime, cuts) -> list[Decimal]:
    """Return the total ∫ level dt over [start, min(max(cut, start), end)) for each ascending cut.

    A cut inside the window's whole hours must be on the hour (timeline buckets are UTC hours/days).
    """
    edges = _edges(cur, tenant_id, metric, start, end)
    hours: list[tuple] = []
    if edges.whole:
        cur.execute(_terms_sql(["hour"]), _params(tenant_id, metric, edges))
        hours = sorted(cur.fetchall())
    out, i, k_sum, d_sum = [], 0, ZERO, ZERO
    with localcontext(EXACT_CONTEXT):
        head_total = (
            _raw_prefix(start, edges.head_end, edges.head_carry, edges.head) if start < edges.head_end else ZERO
        )
        for cut in (min(max(c, start), end) for c in cuts):
            if cut <= edges.head_end:
                out.append(_raw_prefix(start, cut, edges.head_carry, edges.head) if cut > start else ZERO)
                continue
            if cut > edges.w1 or floor_hour(cut) != cut:
                if cut <= edges.w1:
                    raise ValueError("a cut inside whole hours must be on the hour")
                i, k_sum, d_sum = _advance(hours, i, k_sum, d_sum, edges.w1)
                whole = k_sum + d_sum * seconds_between(edges.w0, edges.w1)
                out.append(head_total + whole + _raw_prefix(edges.w1, cut, edges.tail_carry, edges.tail))
                continue
            i, k_sum, d_sum = _advance(hours, i, k_sum, d_sum, cut)
            out.append(head_total + k_sum + d_sum * seconds_between(edges.w0, cut))
    return out


def _advance(hours: list[tuple], i: int, k_sum: Decimal, d_sum: Decimal, cut: datetime):
    """Return (i, Σk, Σd) after adding the hourly terms of the hours before `cut`."""
    while i < len(hours) and hours[i][0] < cut:
        k_sum, d_sum, i = k_sum + hours[i][1], d_sum + hours[i][2], i + 1
    return i, k_sum, d_sum


#: group -> (expression over rollup rows, the same over a raw (timestamp, id, q, resource, cc) row)
_KEYS: dict[str, tuple[str, Callable[[tuple], object]]] = {
    "hour": ("hour", lambda row: floor_hour(row[0])),
    "resource_id": ("resource_id", lambda row: row[3]),
    "cost_center": ("cost_center", lambda row: row[4]),
}


def counts_and_lasts(
    cur, tenant_id: str, metric: str, start: datetime, end: datetime, group: str
) -> dict[object, tuple[int, Last]]:
    """Return {group: (readings in [start, end), its last reading)}, groups being `hour`s (the hour's
    start), `resource_id`s or `cost_center`s of the readings."""
    column, key_of = _KEYS[group]
    w0, w1, ranges = split_edges(start, end)
    out: dict[object, tuple[int, Last]] = {}

    def fold(key, n: int, last: Last) -> None:
        have = out.get(key)
        out[key] = (n, last) if have is None else (have[0] + n, max(have[1], last, key=lambda x: (x[0], x[1])))

    for lo, hi in ranges:
        for row in _raw(cur, tenant_id, metric, lo, hi):
            fold(key_of(row), 1, row)
    if w0 < w1:
        order = "ORDER BY last_at DESC, last_event DESC"
        cur.execute(
            f"SELECT {column}, sum(event_count), (array_agg(last_at {order}))[1], (array_agg(last_event {order}))[1], "
            f"(array_agg(last_quantity {order}))[1], (array_agg(resource_id {order}))[1], "
            f"(array_agg(cost_center {order}))[1] FROM {UsageLevel._meta.db_table} "
            f"WHERE tenant_id = %s AND metric_id = %s AND hour >= %s AND hour < %s GROUP BY 1",
            [tenant_id, metric, w0, w1],
        )
        for key, n, *last in cur.fetchall():
            fold(key, int(n), tuple(last))  # type: ignore[arg-type]
    return out


def last_reading(cur, tenant_id: str, metric: str, start: datetime, end: datetime) -> Last | None:
    """Return the last reading in [start, end) (ties by arrival): the tail's, else the rollup's, else the head's."""
    w0, w1, ranges = split_edges(start, end)
    for lo, hi in reversed(ranges):
        if lo >= w1 or w0 >= w1:
            rows = _raw(cur, tenant_id, metric, lo, hi)
            if rows:
                return rows[-1]
    if w0 < w1:
        cur.execute(
            f"SELECT last_at, last_event, last_quantity, resource_id, cost_center FROM {UsageLevel._meta.db_table} "
            f"WHERE tenant_id = %s AND metric_id = %s AND hour >= %s AND hour < %s "
            f"ORDER BY hour DESC, last_at DESC, last_event DESC LIMIT 1",
            [tenant_id, metric, w0, w1],
        )
        row = cur.fetchone()
        if row:
            return row
        if ranges and ranges[0][1] <= w0:
            rows = _raw(cur, tenant_id, metric, *ranges[0])
            return rows[-1] if rows else None
    return None


def event_count(cur, tenant_id: str, metric: str, start: datetime, end: datetime) -> int:
    """Return the number of readings in [start, end)."""
    w0, w1, ranges = split_edges(start, end)
    events = UsageEvent._meta.db_table
    n = 0
    for lo, hi in ranges:
        cur.execute(
            f'SELECT count(*) FROM {events} WHERE tenant_id = %s AND metric_id = %s AND "timestamp" >= %s '
            f'AND "timestamp" < %s',
            [tenant_id, metric, lo, hi],
        )
        n += cur.fetchone()[0]
    if w0 < w1:
        cur.execute(
            f"SELECT coalesce(sum(event_count), 0) FROM {UsageLevel._meta.db_table} "
            f"WHERE tenant_id = %s AND metric_id = %s AND hour >= %s AND hour < %s",
            [tenant_id, metric, w0, w1],
        )
        n += int(cur.fetchone()[0])
    return n


def _bucket_of(at: datetime, group_by: str) -> datetime:
    hour = floor_hour(at)
    return hour.replace(hour=0) if group_by == "day" else hour


def _bucket_integrals(cur, tenant_id: str, metric, start: datetime, end: datetime, group_by: str) -> dict:
    """Return {bucket: ∫ level dt over the bucket ∩ [start, end)} of `day`/`hour` buckets."""
    step = timedelta(days=1) if group_by == "day" else timedelta(hours=1)
    buckets, bucket = [], _bucket_of(start, group_by)
    while bucket < end:
        buckets.append(bucket)
        bucket += step
    cuts = cumulative_integrals(cur, tenant_id, metric.code, start, end, [*buckets[1:], end])
    with localcontext(EXACT_CONTEXT):
        return {b: hi - lo for b, lo, hi in zip(buckets, [ZERO, *cuts[:-1]], cuts, strict=True)}


def level_groups(
    *, tenant_id: str, metric, start: datetime, end: datetime, group_by: str, divisor: Decimal
) -> dict[object, tuple[Decimal, int]]:
    """Return {group key: (quantity, events)} of a `latest`/`weighted_sum` metric over [start, end).

    Groups are time buckets (`day`/`hour`, clipped to the range), resources or cost centers ('' for
    none). A `weighted_sum` group's quantity is its part of the integral ÷ `divisor`, so the groups
    add up to the whole; `latest` is each group's last reading. Groups with neither events nor
    quantity are left out.
    """
    timed = group_by in ("day", "hour")
    with connection.cursor() as cur:
        column = "hour" if timed else "cost_center" if group_by == "cost_center" else "resource_id"
        found = counts_and_lasts(cur, tenant_id, metric.code, start, end, column)
        events: dict[object, int] = {}
        last: dict[object, Last] = {}
        for key, (n, reading) in found.items():
            group = _bucket_of(key, group_by) if timed else key  # type: ignore[arg-type]
            events[group] = events.get(group, 0) + n
            if group not in last or (reading[0], reading[1]) > (last[group][0], last[group][1]):
                last[group] = reading
        if metric.aggregation == "latest":
            return {key: (last[key][2], n) for key, n in events.items()}
        integrals: dict[object, Decimal] = {}
        if timed:
            integrals = _bucket_integrals(cur, tenant_id, metric, start, end, group_by)
        else:
            by = "slot" if group_by == "cost_center" else "resource"
            slots = level_integrals_read(cur, tenant_id, metric.code, start, end, by).slots
            with localcontext(EXACT_CONTEXT):
                for (resource, cc), value in slots.items():
                    _add(integrals, cc if group_by == "cost_center" else resource, value)
    keys = set(events) | {k for k, v in integrals.items() if v}
    return {k: (weighted_quantity(integrals.get(k, ZERO), divisor), events.get(k, 0)) for k in keys}


def line_levels_by(
    *, tenant_id: str, metric: str, aggregation: str, start: datetime, end: datetime, period_s: Decimal, dimension: str
) -> dict[str, Decimal]:
    """Return {resource id or cost-center code: quantity} of an unfiltered level charge's line.

    `weighted_sum` splits the integral by the resource (or the cost center of the reading) that held
    each piece of level (its integral exactly, then ÷ the period); `latest` gives it all to the last
    reading's key.
    """
    out: dict[str, Decimal] = {}
    with connection.cursor() as cur:
        if aggregation == "latest":
            reading = last_reading(cur, tenant_id, metric, start, end)
            return {} if reading is None else {reading[3] if dimension == "resource_id" else reading[4]: reading[2]}
        # one slot per resource (or per (resource, cost center)), as the raw fold keys them
        by = "resource" if dimension == "resource_id" else "slot"
        slots = level_integrals_read(cur, tenant_id, metric, start, end, by).slots
    with localcontext(EXACT_CONTEXT):  # each part's integral exactly, then ÷ the period once
        for (resource, cc), value in slots.items():
            _add(out, resource if dimension == "resource_id" else cc, value)
    return {part: value / period_s for part, value in out.items()}


def line_levels_series(
    *, tenant_id: str, metric: str, aggregation: str, start: datetime, end: datetime, period_s: Decimal, edges
) -> list[Decimal]:
    """Return an unfiltered level charge's quantity over [start, min(edge, end)) for each ascending edge."""
    with connection.cursor() as cur:
        if aggregation == "weighted_sum":
            totals = cumulative_integrals(cur, tenant_id, metric, start, end, edges)
            return [weighted_quantity(total, period_s) for total in totals]
        found = counts_and_lasts(cur, tenant_id, metric, start, end, "hour")
    lasts = sorted(((r[0], r[1], r[2]) for _, r in found.values()), key=lambda x: (x[0], x[1]))
    out, running, i = [], ZERO, 0
    for cut in (min(max(edge, start), end) for edge in edges):
        while i < len(lasts) and lasts[i][0] < cut:
            running, i = lasts[i][2], i + 1
        out.append(running)
    return out
