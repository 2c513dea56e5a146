"""Table tests for charge filters, minimum commitments, one-off charges and override segments."""

from datetime import UTC, datetime
from decimal import Decimal as D

from billing.pricing.charge_models import ChargeSpec, Tier, price_charge
from billing.pricing.commitments import minimum_shortfall, one_off_amount
from billing.pricing.filters import ChargeFilter, dimension, filter_errors, filter_index, filter_keys
from billing.pricing.segments import OverrideSpan, PlanSpan, merge_segments, period_seconds, plan_segments

START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)  # 31 days
PERIOD = period_seconds(START, END)
GPU = ChargeFilter("GPU", (("type", ("gpu",)),), ChargeSpec("per_unit", unit_price=D("2.50")))
A100 = ChargeFilter("A100", (("type", ("gpu",)), ("model", ("a100", "h100"))), ChargeSpec("per_unit", unit_price=D(4)))
GRAD = ChargeSpec("graduated", tiers=(Tier(D(10), D(1)), Tier(None, D("0.5"))))


def march(day, hour=0):
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_an_event_belongs_to_the_first_filter_whose_every_key_matches():
    filters = [A100, GPU]
    assert filter_index(filters, {"type": "gpu", "model": "h100"}) == 0
    assert filter_index(filters, {"type": "gpu", "model": "t4"}) == 1
    assert filter_index(filters, {"type": "cpu"}) is None
    assert filter_index(filters, {}) is None
    assert filter_index([GPU, A100], {"type": "gpu", "model": "h100"}) == 0  # order decides


def test_non_string_properties_compare_as_json():
    flt = ChargeFilter("big", (("size", ("2", "true")),), GPU.spec)
    assert filter_index([flt], {"size": 2}) == 0
    assert filter_index([flt], {"size": True}) == 0
    assert filter_index([flt], {"size": 3}) is None


def test_the_dimension_keeps_only_the_keys_filters_read():
    keys = filter_keys([A100, GPU])
    assert keys == {"type", "model"}
    props = {"type": "gpu", "model": "a100", "region": "eu"}
    assert dimension(keys, props) == {"type": "gpu", "model": "a100"}
    assert filter_index([A100, GPU], dimension(keys, props)) == filter_index([A100, GPU], props)


def test_tiers_restart_per_filter():
    # 8 GPU hours and 8 CPU hours on a graduated table (first 10 at $1, then $0.50): $8 + $8, not $10 + $3
    gpu = price_charge(GRAD, D(8), "USD").amount
    cpu = price_charge(GRAD, D(8), "USD").amount
    assert gpu + cpu == D("16.00")
    assert price_charge(GRAD, D(16), "USD").amount == D("13.00")


def test_filter_validation_names_the_filter():
    bad = [
        ChargeFilter("GPU", (("type", ("gpu",)),), ChargeSpec("per_unit")),
        ChargeFilter("GPU", (), GPU.spec),
    ]
    errors = filter_errors(bad)
    assert "filters[0] (GPU): unit_price: required for per_unit charges" in errors
    assert "filters[1] (GPU).name: filter names are unique within a charge" in errors
    assert any(e.startswith("filters[1] (GPU).properties:") for e in errors)


def test_minimum_commitment_makes_up_the_difference_prorated_per_segment():
    # $500 minimum, segment covers half the period (15.5 days of 31): owes $250.00; lines $49 + $1.50
    half = PERIOD / 2
    assert minimum_shortfall(
        minimum_amount=D(500), base_seconds=half, period_seconds=PERIOD, line_amounts=[D(49), D("1.50")], currency="USD"
    ) == D("199.50")
    assert (
        minimum_shortfall(
            minimum_amount=D(500), base_seconds=PERIOD, period_seconds=PERIOD, line_amounts=[D(600)], currency="USD"
        )
        is None
    )
    # a trial segment has no base fraction, so it owes no minimum
    assert (
        minimum_shortfall(
            minimum_amount=D(500), base_seconds=D(0), period_seconds=PERIOD, line_amounts=[], currency="USD"
        )
        is None
    )


def test_one_off_amount_is_rounded_once():
    assert one_off_amount(quantity=D(3), unit_price=D("33.333"), currency="USD") == D("100.00")
    assert one_off_amount(quantity=D("0.5"), unit_price=D("99"), currency="JPY") == D(50)


def test_an_override_cuts_the_period_like_a_plan_change():
    segs = plan_segments(
        period_start=START,
        period_end=END,
        cutoff=None,
        plan_spans=[PlanSpan("pro", START, None)],
        pauses=[],
        trial_end=None,
        overrides=[OverrideSpan("deal1", march(11), None)],
    )
    assert [(s.start, s.end, s.override) for s in segs] == [(START, march(11), None), (march(11), END, "deal1")]
    assert segs[0].base_seconds + segs[1].base_seconds == PERIOD


def test_an_override_ended_by_a_plan_change_and_replaced_by_a_newer_one():
    segs = plan_segments(
        period_start=START,
        period_end=END,
        cutoff=None,
        plan_spans=[PlanSpan("pro", START, march(21)), PlanSpan("max", march(21), None)],
        pauses=[],
        trial_end=None,
        overrides=[OverrideSpan("d1", march(5), None), OverrideSpan("d2", march(10), march(21))],
    )
    assert [(s.plan_id, s.start.day, s.end.day, s.override) for s in segs] == [
        ("pro", 1, 5, None),
        ("pro", 5, 10, "d1"),
        ("pro", 10, 21, "d2"),
        ("max", 21, 1, None),
    ]


def test_segments_that_price_the_same_are_joined():
    segs = plan_segments(
        period_start=START,
        period_end=END,
        cutoff=None,
        plan_spans=[PlanSpan("pro", START, None)],
        pauses=[],
        trial_end=march(3),
        overrides=[OverrideSpan("same", march(2), None)],
    )
    [joined] = merge_segments(segs, lambda s: s.plan_id)
    assert (joined.start, joined.end, joined.usage_start, joined.base_seconds) == (
        START,
        END,
        march(3),
        PERIOD - 2 * 86400,
    )
