"""Tests for billing.pricing.periods and billing.pricing.proration."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from billing.pricing.periods import add_months, period_containing, period_index, period_start_n
from billing.pricing.proration import fraction, prorate, seconds_between


def utc(*args):
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


JAN31 = utc(2024, 1, 31, 10, 30)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, utc(2024, 1, 31, 10, 30)),
        (1, utc(2024, 2, 29, 10, 30)),  # leap year clamp
        (2, utc(2024, 3, 31, 10, 30)),  # from the anchor, not from Feb 29
        (3, utc(2024, 4, 30, 10, 30)),
        (13, utc(2025, 2, 28, 10, 30)),
        (-1, utc(2023, 12, 31, 10, 30)),
    ],
)
def test_add_months_clamps_from_the_anchor(n, expected):
    assert add_months(JAN31, n) == expected


def test_yearly_periods():
    leap_day = utc(2024, 2, 29)
    assert period_start_n(leap_day, "year", 1) == utc(2025, 2, 28)
    assert period_start_n(leap_day, "year", 4) == utc(2028, 2, 29)
    assert period_containing(leap_day, "year", utc(2025, 2, 28)) == (utc(2025, 2, 28), utc(2026, 2, 28))
    assert period_containing(leap_day, "year", utc(2025, 2, 27, 23)) == (leap_day, utc(2025, 2, 28))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (JAN31, (JAN31, utc(2024, 2, 29, 10, 30))),  # the anchor starts period 0
        (utc(2024, 2, 29, 10, 29, 59), (JAN31, utc(2024, 2, 29, 10, 30))),  # a second before the end
        (utc(2024, 2, 29, 10, 30), (utc(2024, 2, 29, 10, 30), utc(2024, 3, 31, 10, 30))),  # half-open
        (utc(2024, 3, 1), (utc(2024, 2, 29, 10, 30), utc(2024, 3, 31, 10, 30))),
        (utc(2024, 3, 31, 10, 29), (utc(2024, 2, 29, 10, 30), utc(2024, 3, 31, 10, 30))),
    ],
)
def test_period_containing(at, expected):
    assert period_containing(JAN31, "month", at) == expected


def test_period_index_far_ahead_and_errors():
    assert period_index(utc(2000, 1, 31), "month", utc(2100, 1, 31)) == 1200
    assert period_index(utc(2000, 1, 31), "year", utc(2100, 1, 30)) == 99
    with pytest.raises(ValueError):
        period_index(JAN31, "month", JAN31 - timedelta(seconds=1))
    with pytest.raises(ValueError):
        period_start_n(JAN31, "week", 1)


def test_seconds_between_is_exact():
    assert seconds_between(utc(2026, 3, 1), utc(2026, 4, 1)) == D(31 * 86400)
    assert seconds_between(utc(2026, 3, 1), utc(2026, 3, 1, 0, 0, 1, 500000)) == D("1.5")
    assert seconds_between(utc(2026, 3, 1, 0, 0, 1), utc(2026, 3, 1)) == D("-1")


def test_seconds_between_ignores_wall_clock_across_dst():
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    # The clocks spring forward on 2026-03-29: that calendar day lasts 23 hours.
    assert seconds_between(datetime(2026, 3, 29, tzinfo=berlin), datetime(2026, 3, 30, tzinfo=berlin)) == D(82800)


def test_fraction_has_forty_digits():
    assert fraction(D(1), D(3)) == D("0." + "3" * 40)
    assert fraction(D(15 * 86400), D(30 * 86400)) == D("0.5")
    with pytest.raises(ValueError):
        fraction(D(1), D(0))


@pytest.mark.parametrize(
    ("amount", "covered", "period", "currency", "expected"),
    [
        ("49.00", 15 * 86400, 31 * 86400, "USD", "23.71"),  # 49 × 15/31 = 23.7096…
        ("49.00", 31 * 86400, 31 * 86400, "USD", "49.00"),
        ("0.01", 1, 2, "USD", "0.01"),  # 0.005 → half up
        ("4900", 1, 3, "JPY", "1633"),  # 1633.33…
        ("49.00", 0, 31 * 86400, "USD", "0.00"),
    ],
)
def test_prorate(amount, covered, period, currency, expected):
    assert str(prorate(D(amount), D(covered), D(period), currency)) == expected
