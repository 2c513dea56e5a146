"""The one way a usage window [start, end) is read exactly: whole hours from the hourly rollups, the
partial hours at its edges from raw events, folded the same way (sums and counts add, maxima max)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

HOUR = timedelta(hours=1)

#: (metric, key) -> [sum, max, count] of the rows folded so far.
Folded = dict[tuple[str, object], list]


def floor_hour(at: datetime) -> datetime:
    """Return the start of the hour containing `at`."""
    return at.replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    """Return `at` when it is on the hour, else the start of the next hour."""
    floor = floor_hour(at)
    return floor if floor == at else floor + HOUR


def split_edges(start: datetime, end: datetime) -> tuple[datetime, datetime, list[tuple[datetime, datetime]]]:
    """Return (whole_start, whole_end, raw_ranges) of [start, end): the whole hours inside it and the
    partial hours at its edges (one range when it lies inside a single hour, none when it is empty)."""
    whole_start, whole_end = ceil_hour(start), floor_hour(end)
    if whole_start >= whole_end:
        return whole_start, whole_start, [(start, end)] if start < end else []
    raw = []
    if start < whole_start:
        raw.append((start, whole_start))
    if whole_end < end:
        raw.append((whole_end, end))
    return whole_start, whole_end, raw


def fold_rows(acc: Folded, rows) -> Folded:
    """Return `acc` with (metric, key, sum, max, count) rows folded in per (metric, key)."""
    for code, key, s, mx, n in rows:
        slot = acc.get((code, key))
        if slot is None:
            slot = acc[(code, key)] = [Decimal(0), Decimal(0), 0]
        slot[0] += s or 0
        slot[1] = max(slot[1], mx or 0)
        slot[2] += int(n or 0)
    return acc


def aggregate(aggregation: str, folded: list) -> Decimal:
    """Return the quantity of a folded [sum, max, count] under `aggregation` (sum, max, else count)."""
    s, mx, n = folded
    if aggregation == "sum":
        return Decimal(s)
    if aggregation == "max":
        return Decimal(mx)
    return Decimal(n)
