"""Billing periods anchored on a subscription's start (contract section 5).

The n-th period starts at the anchor plus n months (``month``) or 12n months (``year``), same
day-of-month and time, clamped to the month's last day. Every start is computed from the anchor,
never chained from the previous start, so Jan 31 → Feb 28/29 → Mar 31. Periods are half-open.
"""

from __future__ import annotations

import calendar
from datetime import datetime

MONTHS_PER_INTERVAL: dict[str, int] = {"month": 1, "year": 12}


def _months(interval: str) -> int:
    """Return the length of ``interval`` in months."""
    try:
        return MONTHS_PER_INTERVAL[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; expected 'month' or 'year'") from None


def add_months(anchor: datetime, n: int) -> datetime:
    """Return ``anchor`` plus ``n`` months: same day and time, clamped to the month's last day."""
    year_offset, month_index = divmod(anchor.month - 1 + n, 12)
    year, month = anchor.year + year_offset, month_index + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def period_start_n(anchor: datetime, interval: str, n: int) -> datetime:
    """Return the start of the ``n``-th period (0 is the first) anchored on ``anchor``."""
    return add_months(anchor, _months(interval) * n)


def period_index(anchor: datetime, interval: str, at: datetime) -> int:
    """Return the index of the period that contains ``at`` (``at`` must not precede ``anchor``)."""
    if at < anchor:
        raise ValueError("at must not be before the anchor")
    step = _months(interval)
    # Estimate from the calendar month difference, then correct: clamping and time of day move a
    # start by less than a month, so at most one step either way is needed.
    n = ((at.year - anchor.year) * 12 + at.month - anchor.month) // step
    while n > 0 and period_start_n(anchor, interval, n) > at:
        n -= 1
    while period_start_n(anchor, interval, n + 1) <= at:
        n += 1
    return n


def period_containing(anchor: datetime, interval: str, at: datetime) -> tuple[datetime, datetime]:
    """Return the half-open period ``[start, end)`` anchored on ``anchor`` that contains ``at``."""
    n = period_index(anchor, interval, at)
    return period_start_n(anchor, interval, n), period_start_n(anchor, interval, n + 1)
