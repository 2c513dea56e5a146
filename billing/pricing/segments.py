"""Cut a billing period into plan segments and measure what each segment bills (contract section 5).

An immediate plan change splits the period; each segment pays its own plan's base price prorated by
its un-paused, non-trial seconds, and its own usage over the segment minus the trial (usage while
paused is still billed). A price override (section 14) cuts the period the same way: the segments
it covers carry its key. Open-ended spans (``end=None``) run on indefinitely.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

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
class OverrideSpan:
    """A price override (identified by ``key``) in force from ``start`` until ``end`` (``None``: still)."""

    key: Hashable
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Segment:
    """Part of a period under one plan (and at most one override, ``override`` its key).

    ``usage_start >= usage_end`` means no billable usage.
    """

    plan_id: str
    start: datetime
    end: datetime
    base_seconds: Decimal
    usage_start: datetime
    usage_end: datetime
    override: Hashable = None


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
    overrides: Sequence[OverrideSpan] = (),
) -> list[Segment]:
    """Return the non-empty plan segments of ``[period_start, min(period_end, cutoff))`` in order.

    ``cutoff`` is "now" for a preview or the cancellation instant (``None``: the whole period).
    A later plan span takes over from an earlier one at its start. ``base_seconds`` excludes the
    union of pauses and the trial ``[-∞, trial_end)``, so a paused trial is subtracted once.
    Each segment is cut again where an override starts or ends; the pieces an override covers
    carry its key (a later override takes over from an earlier one at its start).
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
        for lo, hi, key in _override_pieces(start, end, overrides):
            base = seconds_between(lo, hi) - _covered_seconds(excluded, lo, hi)
            usage_start = lo if trial_end is None else min(max(lo, trial_end), hi)
            segments.append(Segment(span.plan_id, lo, hi, base, usage_start, hi, key))
    return segments


def _override_pieces(
    start: datetime, end: datetime, overrides: Sequence[OverrideSpan]
) -> list[tuple[datetime, datetime, Hashable]]:
    """Return ``[start, end)`` cut at every override boundary, each piece with the override in force."""
    if end <= start:
        return []
    ordered = sorted(overrides, key=lambda o: o.start)
    cuts = {start, end}
    for o in ordered:
        cuts.update(t for t in (o.start, o.end) if t is not None and start < t < end)
    points = sorted(cuts)
    pieces = []
    for lo, hi in pairwise(points):
        key = None
        for i, o in enumerate(ordered):
            following = ordered[i + 1].start if i + 1 < len(ordered) else None
            o_end = o.end if following is None else (following if o.end is None else min(o.end, following))
            if o.start <= lo and (o_end is None or lo < o_end):
                key = o.key
        pieces.append((lo, hi, key))
    return pieces


def merge_segments(segments: Sequence[Segment], pricing: Callable[[Segment], Hashable]) -> list[Segment]:
    """Return ``segments`` with adjacent ones that price the same (equal ``pricing(segment)``) joined.

    A price override that sets the plan's own prices therefore changes nothing: its segment joins its
    neighbours, and tiers do not restart at its boundaries. The joined segment keeps the first one's
    override key.
    """
    merged: list[Segment] = []
    for seg in segments:
        prev = merged[-1] if merged else None
        if prev is None or prev.end != seg.start or pricing(prev) != pricing(seg):
            merged.append(seg)
            continue
        usage_start = prev.usage_start if prev.usage_start < prev.end else seg.usage_start
        merged[-1] = Segment(
            prev.plan_id, prev.start, seg.end, prev.base_seconds + seg.base_seconds, usage_start, seg.end, prev.override
        )
    return merged
