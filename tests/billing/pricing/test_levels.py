"""Table tests for `latest` and `weighted_sum` (contract section 14), amounts worked out by hand."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from billing.pricing.charge_models import ChargeSpec, price_charge
from billing.pricing.levels import (
    Level,
    Reading,
    latest_quantity,
    level_integrals,
    levels_after,
    projected_integral,
    total_level,
    weighted_quantity,
)
from billing.pricing.segments import period_seconds

START = datetime(2026, 4, 1, tzinfo=UTC)
END = datetime(2026, 5, 1, tzinfo=UTC)  # 30 days = 2,592,000 s
DAY = timedelta(days=1)
PERIOD = period_seconds(START, END)


def day(n: float) -> datetime:
    return START + n * DAY


def quantity(readings, carry=None, start=START, end=END):
    integrals = level_integrals(start=start, end=end, carry=carry or {}, readings=readings)
    return weighted_quantity(sum(integrals.values(), D(0)), PERIOD)


def test_100_gb_held_for_half_the_period_is_50_gb_months():
    assert quantity([Reading(day(15), D(100))]) == D(50)


def test_a_level_set_before_the_window_carries_into_it():
    # 40 GB for 10 days, then 100 GB for 20 days: (400 + 2000) GB-days / 30 days = 80 GB-months
    assert quantity([Reading(day(10), D(100))], carry={"": Level(D(40))}) == D(80)


def test_the_tenant_level_is_the_sum_over_resources():
    # bucket a: 10 GB days 0–20 (200 GB-days); bucket b: 20 GB days 15–30 (300 GB-days): 500 / 30
    readings = [Reading(day(0), D(10), "a"), Reading(day(15), D(20), "b"), Reading(day(20), D(0), "a")]
    assert quantity(readings) == D("16.666666666667")
    integrals = level_integrals(start=START, end=END, carry={}, readings=readings)
    assert integrals == {("a", None): D(200 * 86400), ("b", None): D(300 * 86400)}


def test_priced_per_unit_storage_in_gb_months():
    # 100 GB for 15 days then 300 GB for 15 days = 200 GB-months at $0.10 = $20.00
    q = quantity([Reading(day(0), D(100)), Reading(day(15), D(300))])
    assert q == D(200)
    assert price_charge(ChargeSpec("per_unit", unit_price=D("0.10")), q, "USD").amount == D("20.00")


def test_segments_integrate_their_own_part_and_add_up():
    readings = [Reading(day(3), D(7), "a"), Reading(day(12.5), D(2), "b"), Reading(day(20), D(1), "a")]
    cut = day(10)
    first = [r for r in readings if r.at < cut]
    second = [r for r in readings if r.at >= cut]
    whole = sum(level_integrals(start=START, end=END, carry={}, readings=readings).values(), D(0))
    a = sum(level_integrals(start=START, end=cut, carry={}, readings=first).values(), D(0))
    carry = levels_after({}, first)
    b = sum(level_integrals(start=cut, end=END, carry=carry, readings=second).values(), D(0))
    assert a + b == whole
    assert total_level(carry) == D(7)


def test_a_piece_of_level_belongs_to_the_filter_of_the_reading_that_set_it():
    readings = [Reading(day(0), D(4), "vm1", key=0), Reading(day(10), D(2), "vm1", key=None)]
    assert level_integrals(start=START, end=END, carry={}, readings=readings) == {
        ("vm1", 0): D(40 * 86400),
        ("vm1", None): D(40 * 86400),
    }


def test_the_estimate_holds_the_current_level_to_the_period_end():
    # 10 days at 30 GB so far, the level held for 20 more days: 30 GB-months
    so_far = sum(level_integrals(start=START, end=day(10), carry={"": Level(D(30))}, readings=[]).values(), D(0))
    assert weighted_quantity(projected_integral(so_far, D(30), D(20 * 86400)), PERIOD) == D(30)


def test_latest_is_the_last_reading_ties_by_arrival_and_zero_without_one():
    readings = [Reading(day(1), D(5)), Reading(day(2), D(9)), Reading(day(2), D(3))]
    assert latest_quantity(readings) == D(3)
    assert latest_quantity([]) == D(0)


def test_a_reading_outside_the_window_is_refused():
    with pytest.raises(ValueError):
        level_integrals(start=START, end=day(1), carry={}, readings=[Reading(day(2), D(1))])
