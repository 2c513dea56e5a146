"""Tests for billing.pricing.segments: plan changes, pauses, trials and cutoffs in one period."""

from datetime import UTC, datetime
from decimal import Decimal as D

from billing.pricing.proration import prorate
from billing.pricing.segments import PlanSpan, Span, period_seconds, plan_segments

DAY = 86400
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)  # 31 days


def march(day, hour=0):
    """Return an aware UTC instant in March 2026."""
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def segments(*, spans=(PlanSpan("pro", START, None),), pauses=(), trial_end=None, cutoff=None):
    """Return the segments of March 2026 with the given history."""
    return plan_segments(
        period_start=START,
        period_end=END,
        cutoff=cutoff,
        plan_spans=list(spans),
        pauses=list(pauses),
        trial_end=trial_end,
    )


def base(segment, price="49.00"):
    """Return the prorated base price of ``segment`` as a string."""
    return str(prorate(D(price), segment.base_seconds, period_seconds(START, END), "USD"))


def test_whole_period_on_one_plan():
    [seg] = segments()
    assert (seg.start, seg.end, seg.base_seconds) == (START, END, D(31 * DAY))
    assert (seg.usage_start, seg.usage_end) == (START, END)
    assert base(seg) == "49.00"


def test_upgrade_mid_month():
    spans = [PlanSpan("starter", march(1), march(16)), PlanSpan("pro", march(16), None)]
    starter, pro = segments(spans=spans)
    assert (starter.plan_id, starter.end, starter.base_seconds) == ("starter", march(16), D(15 * DAY))
    assert (pro.plan_id, pro.start, pro.end, pro.base_seconds) == ("pro", march(16), END, D(16 * DAY))
    assert (pro.usage_start, pro.usage_end) == (march(16), END)
    assert base(starter, "10.00") == "4.84"  # 10 × 15/31 = 4.8387
    assert base(pro) == "25.29"  # 49 × 16/31 = 25.2903


def test_a_later_span_takes_over_an_open_earlier_one_and_empty_segments_are_dropped():
    spans = [PlanSpan("old", datetime(2026, 1, 1, tzinfo=UTC), None), PlanSpan("pro", START, None)]
    assert [s.plan_id for s in segments(spans=spans)] == ["pro"]


def test_three_day_pause_is_not_charged_but_its_usage_is():
    [seg] = segments(pauses=[Span(march(10), march(13))])
    assert seg.base_seconds == D(28 * DAY)
    assert (seg.usage_start, seg.usage_end) == (START, END)
    assert base(seg) == "44.26"  # 49 × 28/31 = 44.2581


def test_still_paused_at_the_end():
    [seg] = segments(pauses=[Span(march(21), None)])
    assert seg.base_seconds == D(20 * DAY)


def test_trial_ending_mid_period():
    [seg] = segments(trial_end=march(15, 12))
    assert seg.base_seconds == D(DAY * 33 // 2)  # 31 − 14.5 days
    assert (seg.usage_start, seg.usage_end) == (march(15, 12), END)
    assert base(seg) == "26.08"  # 49 × 16.5/31 = 26.0806


def test_paused_trial_is_subtracted_once():
    [seg] = segments(trial_end=march(15), pauses=[Span(march(10), march(20))])
    assert seg.base_seconds == D(12 * DAY)  # excluded: Mar 1–20 once, not 14 + 10 days


def test_trial_covering_a_segment_leaves_no_usage():
    spans = [PlanSpan("starter", march(1), march(10)), PlanSpan("pro", march(10), None)]
    starter, pro = segments(spans=spans, trial_end=march(12))
    assert starter.base_seconds == 0 and starter.usage_start >= starter.usage_end
    assert pro.base_seconds == D(20 * DAY) and pro.usage_start == march(12)


def test_cutoff_before_period_end():
    [seg] = segments(cutoff=march(21))
    assert (seg.end, seg.base_seconds, seg.usage_end) == (march(21), D(20 * DAY), march(21))
    assert base(seg) == "31.61"  # 49 × 20/31 = 31.6129, prorated over the whole period


def test_cutoff_before_a_plan_change_and_before_the_period():
    spans = [PlanSpan("starter", march(1), march(16)), PlanSpan("pro", march(16), None)]
    assert [s.plan_id for s in segments(spans=spans, cutoff=march(16))] == ["starter"]
    assert segments(cutoff=START) == []
