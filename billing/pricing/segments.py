"""Cut a billing period into plan segments and measure what each segment bills (contract section 5).

An immediate plan change splits the period; each segment pays its own plan's base price prorated by
its un-paused, non-trial seconds, and its own usage over the segment minus the trial (usage while
paused is still billed). Open-ended spans (``end=None``) run on indefinitely.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.pricing.proration import seconds_between


@dataclass(frozen=True)
class PlanSpan:
    """The plan in force from ``start`` until ``end`` (``None``: still in force)."""

    plan_id: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Span:
    """A pause from ``start`` until ``end`` (``None``: still paused)."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Segment:
    """Part of a period under one plan; ``usage_start >= usage_end`` means no billable usage."""

    plan_id: str
    start: datetime
    end: datetime
    base_seconds: Decimal
    usage_start: datetime
    usage_end: datetime


def period_seconds(period_start: datetime, period_end: datetime) -> Decimal:
    """Return the exact length of the period ``[period_start, period_end)`` in seconds."""
    return seconds_between(period_start, period_end)


def _clip(start: datetime | None, end: datetime | None, lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` intersected with ``[lo, hi)``; ``None`` bounds are unbounded."""
    return (lo if start is None else max(start, lo)), (hi if end is None else min(end, hi))


Interval = tuple[datetime | None, datetime | None]


def _covered_seconds(intervals: Iterable[Interval], lo: datetime, hi: datetime) -> Decimal:
    """Return the seconds of ``[lo, hi)`` covered by the union of ``intervals`` (overlaps once)."""
    clipped = sorted(c for c in (_clip(a, b, lo, hi) for a, b in intervals) if c[0] < c[1])
    total = Decimal(0)
    run: list[datetime] | None = None
    for start, end in clipped:
        if run is not None and start <= run[1]:
            run[1] = max(run[1], end)
            continue
        if run is not None:
            total += seconds_between(*run)
        run = [start, end]
    if run is not None:
        total += seconds_between(*run)
    return total


def plan_segments(
    *,
    period_start: datetime,
    period_end: datetime,
    cutoff: datetime | None,
    plan_spans: Sequence[PlanSpan],
    pauses: Sequence[Span],
    trial_end: datetime | None,
) -> list[Segment]:
    """Return the non-empty plan segments of ``[period_start, min(period_end, cutoff))`` in order.

    ``cutoff`` is "now" for a preview or the cancellation instant (``None``: the whole period).
    A later plan span takes over from an earlier one at its start. ``base_seconds`` excludes the
    union of pauses and the trial ``[-∞, trial_end)``, so a paused trial is subtracted once.
    """
    window_end = period_end if cutoff is None else min(period_end, cutoff)
    if window_end <= period_start:
        return []
    spans = sorted(plan_spans, key=lambda span: span.start)
    excluded: list[Interval] = [(p.start, p.end) for p in pauses]
    if trial_end is not None:
        excluded.append((None, trial_end))
    segments = []
    for i, span in enumerate(spans):
        span_end = span.end
        if i + 1 < len(spans):
            following = spans[i + 1].start
            span_end = following if span_end is None else min(span_end, following)
        start, end = _clip(span.start, span_end, period_start, window_end)
        if end <= start:
            continue
        base = seconds_between(start, end) - _covered_seconds(excluded, start, end)
        usage_start = start if trial_end is None else min(max(start, trial_end), end)
        segments.append(Segment(span.plan_id, start, end, base, usage_start, end))
    return segments
