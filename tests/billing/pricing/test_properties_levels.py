"""Hypothesis properties of section 14: weighted sums split exactly, held levels, filters partition,
overrides with the plan's own prices change nothing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.charge_models import ChargeSpec, price_charge
from billing.pricing.filters import ChargeFilter, dimension, filter_index, filter_keys
from billing.pricing.levels import Level, Reading, level_integrals, levels_after, weighted_quantity
from billing.pricing.segments import OverrideSpan, PlanSpan, Span, merge_segments, period_seconds, plan_segments

START = datetime(2026, 1, 31, tzinfo=UTC)
END = datetime(2026, 2, 28, tzinfo=UTC)
PERIOD = period_seconds(START, END)
OFFSETS = st.integers(0, int(PERIOD) * 1_000_000 - 1).map(lambda us: START + timedelta(microseconds=us))
LEVELS = st.decimals(min_value=0, max_value=100_000, places=6)
READINGS = st.lists(
    st.builds(Reading, at=OFFSETS, quantity=LEVELS, resource_id=st.sampled_from(["", "a", "b", "c"])), max_size=25
).map(lambda rs: sorted(rs, key=lambda r: r.at))
CARRY = st.dictionaries(st.sampled_from(["", "a", "d"]), st.builds(Level, LEVELS), max_size=3)
PRICE = ChargeSpec("per_unit", unit_price=D("0.0731"))


def integral(start, end, carry, readings):
    return sum(level_integrals(start=start, end=end, carry=carry, readings=readings).values(), D(0))


@given(readings=READINGS, carry=CARRY, cuts=st.lists(OFFSETS, max_size=4, unique=True))
def test_weighted_sum_over_a_period_is_the_sum_over_any_split(readings, carry, cuts):
    bounds = [START, *sorted(c for c in cuts if c > START), END]
    whole = integral(START, END, carry, readings)
    parts, level = [], carry
    for lo, hi in pairwise(bounds):
        inside = [r for r in readings if lo <= r.at < hi]
        parts.append(integral(lo, hi, level, inside))
        level = levels_after(level, inside)
    assert sum(parts, D(0)) == whole  # exactly, before rounding
    # after rounding per line: each line rounds by at most half a cent (plus the 1e-12 quantity step)
    line = price_charge(PRICE, weighted_quantity(whole, PERIOD), "USD").amount
    split = sum((price_charge(PRICE, weighted_quantity(p, PERIOD), "USD").amount for p in parts), D(0))
    assert abs(line - split) <= D("0.01") * len(parts) / 2 + D("0.005")
    if len(parts) <= 2:
        assert abs(line - split) <= D("0.01")


@given(level=LEVELS, at=OFFSETS, resources=st.integers(1, 3))
def test_a_level_held_constant_gives_exactly_that_level(level, at, resources):
    carry = {f"r{i}": Level(level) for i in range(resources)}
    # re-reading the same level mid-period changes nothing
    readings = [Reading(at, level, "r0")]
    assert weighted_quantity(integral(START, END, carry, readings), PERIOD) == level * resources


KEYS = st.sampled_from(["type", "model", "region"])
VALUES = st.sampled_from(["gpu", "cpu", "a100", "eu", 1, True])
PROPS = st.dictionaries(KEYS, VALUES, max_size=3)
FILTERS = st.lists(
    st.builds(
        ChargeFilter,
        name=st.text("abcdef", min_size=1, max_size=3),
        properties=st.lists(
            st.tuples(
                KEYS, st.lists(st.sampled_from(["gpu", "cpu", "a100", "eu", "1", "true"]), min_size=1).map(tuple)
            ),
            min_size=1,
            max_size=2,
            unique_by=lambda kv: kv[0],
        ).map(tuple),
        spec=st.just(PRICE),
    ),
    max_size=4,
)


@given(filters=FILTERS, events=st.lists(st.tuples(PROPS, LEVELS), max_size=30))
def test_filters_partition_the_events(filters, events):
    groups: dict[int | None, list] = {}
    for props, quantity in events:
        groups.setdefault(filter_index(filters, props), []).append(quantity)
    # every event lands in exactly one group, and the groups add up to the whole
    assert sum(len(g) for g in groups.values()) == len(events)
    assert sum((sum(g, D(0)) for g in groups.values()), D(0)) == sum((q for _, q in events), D(0))
    # deciding on the ingest's projection (the dimension) gives the same group as the full properties
    keys = filter_keys(filters)
    for props, _ in events:
        assert filter_index(filters, dimension(keys, props)) == filter_index(filters, props)


@given(
    cuts=st.lists(OFFSETS, min_size=1, max_size=4, unique=True),
    pause=st.tuples(OFFSETS, OFFSETS).map(sorted),
    trial=st.one_of(st.none(), OFFSETS),
)
def test_overrides_with_the_plans_own_prices_change_nothing(cuts, pause, trial):
    cuts = sorted(cuts)
    overrides = [OverrideSpan(f"o{i}", lo, hi) for i, (lo, hi) in enumerate(zip(cuts, [*cuts[1:], None], strict=True))]
    common = dict(
        period_start=START,
        period_end=END,
        cutoff=None,
        plan_spans=[PlanSpan("pro", START, None)],
        pauses=[Span(*pause)],
        trial_end=trial,
    )
    plain = plan_segments(**common)
    with_overrides = merge_segments(plan_segments(**common, overrides=overrides), lambda s: s.plan_id)
    strip = lambda segs: [(s.plan_id, s.start, s.end, s.base_seconds, s.usage_start, s.usage_end) for s in segs]  # noqa: E731
    assert strip(with_overrides) == strip(plain)
