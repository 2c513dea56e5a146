"""Hypothesis properties of the pricing engine: exact sums, split invariance, tiling periods."""

from datetime import UTC, datetime, timedelta
from decimal import Context, localcontext
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.charge_models import ChargeSpec, Tier, graduated, price_charge, volume
from billing.pricing.periods import period_containing, period_index, period_start_n
from billing.pricing.proration import fraction, prorate, seconds_between
from billing.pricing.segments import PlanSpan, Span, plan_segments
from billing.pricing.totals import DiscountSpec, compute_totals
from billing_project.money import allocate, from_minor_units, minor_unit, quantize
from tests.billing.pricing.test_charge_models import (
    ACTIVE_USERS,
    API_CALLS,
    GRADUATED_FEES,
    JOBS,
    STORAGE_GB,
    VOLUME_FEES,
)

CURRENCIES = st.sampled_from(["USD", "JPY", "KWD"])
QUANTITIES = st.decimals(min_value=0, max_value=2_000_000, places=6)
PRICES = st.decimals(min_value=0, max_value=10, places=4)
FEES = st.decimals(min_value=0, max_value=50, places=2)
INSTANTS = st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))


@st.composite
def tier_tables(draw, *, non_increasing=False, flat_fees=True):
    """Return a valid tier table: ascending bounds and an open-ended last tier."""
    bounds = sorted(draw(st.sets(st.decimals(min_value=1, max_value=100_000, places=2), max_size=4)))
    prices = draw(st.lists(PRICES, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    if non_increasing:
        prices.sort(reverse=True)
    fees = draw(st.lists(FEES if flat_fees else st.just(D(0)), min_size=len(prices), max_size=len(prices)))
    return tuple(Tier(up_to, price, fee) for up_to, price, fee in zip([*bounds, None], prices, fees, strict=False))


SPECS = st.one_of(
    st.sampled_from([API_CALLS, STORAGE_GB, ACTIVE_USERS, JOBS, GRADUATED_FEES, VOLUME_FEES]),
    st.builds(ChargeSpec, model=st.sampled_from(["graduated", "volume"]), tiers=tier_tables()),
)


@given(spec=SPECS, events=st.lists(QUANTITIES, min_size=1, max_size=20), data=st.data())
def test_price_does_not_depend_on_how_usage_is_split(spec, events, data):
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(events)), max_size=5)) | {0, len(events)})
    batches = [sum(shuffled[a:b], D(0)) for a, b in zip(cuts, cuts[1:], strict=False)]
    once = price_charge(spec, sum(events, D(0)), "USD")
    assert price_charge(spec, sum(reversed(batches), D(0)), "USD") == once


@given(spec=SPECS, quantity=QUANTITIES, more=QUANTITIES, currency=CURRENCIES)
def test_tier_amounts_sum_to_the_line_and_more_usage_never_costs_less(spec, quantity, more, currency):
    result = price_charge(spec, quantity, currency)
    assert sum(t.amount for t in result.tiers) == (result.amount if result.tiers else 0)
    assert all(t.amount == quantize(t.amount, currency) for t in result.tiers)
    if spec.model == "graduated":  # volume pricing may legitimately drop at a tier boundary
        assert price_charge(spec, quantity + more, currency).amount >= result.amount


@given(tiers=tier_tables(non_increasing=True, flat_fees=False), quantity=QUANTITIES)
def test_graduated_is_never_cheaper_than_volume_with_falling_prices(tiers, quantity):
    spec_g, spec_v = ChargeSpec(model="graduated", tiers=tiers), ChargeSpec(model="volume", tiers=tiers)
    assert graduated(spec_g, quantity).amount >= volume(spec_v, quantity).amount
    assert price_charge(spec_g, quantity, "USD").amount >= price_charge(spec_v, quantity, "USD").amount


@given(
    anchor=INSTANTS,
    interval=st.sampled_from(["month", "year"]),
    cuts=st.sets(st.floats(0, 1), max_size=6),
    amount=st.decimals(min_value=0, max_value=100_000, places=2),
)
def test_prorated_pieces_of_a_period_add_up(anchor, interval, cuts, amount):
    start, end = period_start_n(anchor, interval, 0), period_start_n(anchor, interval, 1)
    length = end - start
    # floats only pick the cut instants; all the arithmetic under test is Decimal
    micros = length // timedelta(microseconds=1)
    instants = sorted({start, end, *(start + timedelta(microseconds=int(c * micros)) for c in cuts)})
    pieces = [seconds_between(a, b) for a, b in zip(instants, instants[1:], strict=False)]
    total_seconds = seconds_between(start, end)
    assert sum(pieces) == total_seconds
    with localcontext(Context(prec=50)):  # the default 28 digits would blur the sum itself
        assert abs(sum(fraction(p, total_seconds) for p in pieces) - 1) < D("1e-30")
    parts = allocate(amount, pieces, "USD")
    assert sum(parts) == amount
    for part, piece in zip(parts, pieces, strict=False):
        assert abs(part - prorate(amount, piece, total_seconds, "USD")) <= D("0.01")


@given(
    quantities=st.lists(QUANTITIES, max_size=6),
    base=st.decimals(min_value=0, max_value=1000, places=2),
    percent=st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=2)),
    amount_off=st.decimals(min_value=0, max_value=2000, places=2),
    tax_rate=st.decimals(min_value=0, max_value=D("0.3"), places=4),
    credits=st.decimals(min_value=0, max_value=2000, places=2),
    currency=CURRENCIES,
)
def test_totals_follow_the_lines(quantities, base, percent, amount_off, tax_rate, credits, currency):
    specs = [API_CALLS, STORAGE_GB, ACTIVE_USERS, JOBS, GRADUATED_FEES, VOLUME_FEES]
    lines = [quantize(base, currency)] + [
        price_charge(s, q, currency).amount for s, q in zip(specs, quantities, strict=False)
    ]
    discount = DiscountSpec(percent_off=percent) if percent is not None else DiscountSpec(amount_off=amount_off)
    t = compute_totals(
        line_amounts=lines, currency=currency, discount=discount, tax_rate=tax_rate, credits_available=credits
    )
    assert t.subtotal == sum(lines)
    assert 0 <= t.discount <= t.subtotal
    assert t.total == t.subtotal - t.discount + t.tax >= 0
    assert 0 <= t.credits_applied <= min(t.total, quantize(credits, currency))
    assert t.amount_due == t.total - t.credits_applied >= 0
    for value in (t.subtotal, t.discount, t.tax, t.total, t.credits_applied, t.amount_due):
        assert value.as_tuple().exponent == -minor_unit(currency)


@given(
    units=st.integers(-(10**9), 10**9),
    weights=st.lists(st.decimals(min_value=0, max_value=10**6, places=6), min_size=1, max_size=12),
    currency=CURRENCIES,
)
def test_allocate_always_sums_exactly(units, weights, currency):
    total = from_minor_units(units, currency)
    parts = allocate(total, weights, currency)
    assert sum(parts) == total and len(parts) == len(weights)
    assert all(p * total >= 0 for p in parts)  # never the opposite sign of the total
    step = from_minor_units(1, currency)
    if sum(weights):
        for part, weight in zip(parts, weights, strict=False):
            assert abs(part - total * weight / sum(weights)) < step


@given(
    anchor=INSTANTS,
    interval=st.sampled_from(["month", "year"]),
    offset=st.timedeltas(timedelta(0), timedelta(days=6 * 366)),
)
def test_period_containing_contains_at(anchor, interval, offset):
    at = anchor + offset
    start, end = period_containing(anchor, interval, at)
    n = period_index(anchor, interval, at)
    assert start <= at < end
    assert (start, end) == (period_start_n(anchor, interval, n), period_start_n(anchor, interval, n + 1))


@given(n=st.integers(0, 60), hour=st.integers(0, 23))
def test_jan31_periods_tile_through_a_leap_year(n, hour):
    anchor = datetime(2023, 1, 31, hour, tzinfo=UTC)
    start, end = period_start_n(anchor, "month", n), period_start_n(anchor, "month", n + 1)
    assert period_containing(anchor, "month", start) == (start, end)
    assert period_containing(anchor, "month", end - timedelta(microseconds=1)) == (start, end)
    assert period_containing(anchor, "month", end)[0] == end  # consecutive periods share the boundary
    month_end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    assert (start.day, start.hour) == (month_end.day, hour)  # clamped to the month's last day


@given(
    changes=st.lists(INSTANTS, max_size=4),
    pause=st.tuples(INSTANTS, INSTANTS),
    trial_end=st.one_of(st.none(), INSTANTS),
    cutoff=st.one_of(st.none(), INSTANTS),
    anchor=INSTANTS,
)
def test_segments_tile_the_billed_window(changes, pause, trial_end, cutoff, anchor):
    period_start, period_end = period_start_n(anchor, "month", 0), period_start_n(anchor, "month", 1)
    starts = sorted({period_start - timedelta(days=1), *changes})
    spans = [PlanSpan(f"plan{i}", s, None) for i, s in enumerate(starts)]
    segments = plan_segments(
        period_start=period_start,
        period_end=period_end,
        cutoff=cutoff,
        plan_spans=spans,
        pauses=[Span(min(pause), max(pause))],
        trial_end=trial_end,
    )
    window_end = period_end if cutoff is None else min(period_end, cutoff)
    if window_end <= period_start:
        assert segments == []
        return
    assert segments[0].start == period_start and segments[-1].end == window_end
    for seg, following in zip(segments, segments[1:], strict=False):
        assert seg.end == following.start
    for seg in segments:
        assert 0 <= seg.base_seconds <= seconds_between(seg.start, seg.end)
        assert seg.start <= seg.usage_start <= seg.usage_end == seg.end
