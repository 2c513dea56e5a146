"""Tests for billing_project.money: currencies, rounding, allocation and formatting."""

from decimal import Decimal as D

import pytest

from billing_project import money


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1.005", "USD", "1.01"),  # half up, not half even
        ("1.004999", "USD", "1.00"),
        ("-1.005", "USD", "-1.01"),  # half up rounds away from zero
        ("-0.001", "USD", "0.00"),  # never "-0.00"
        ("0.5", "JPY", "1"),
        ("1499.5", "JPY", "1500"),
        ("1.2345", "KWD", "1.235"),
        ("49", "EUR", "49.00"),
        ("0.0004", "USD", "0.00"),
    ],
)
def test_quantize(amount, currency, expected):
    assert str(money.quantize(D(amount), currency)) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [("12.34", "USD", 1234), ("500", "JPY", 500), ("1.234", "BHD", 1234), ("-0.05", "EUR", -5)],
)
def test_to_minor_units(amount, currency, units):
    assert money.to_minor_units(D(amount), currency) == units
    assert money.from_minor_units(units, currency) == D(amount)


def test_zero_and_fmt_carry_the_minor_unit_places():
    assert [str(money.zero(c)) for c in ("USD", "JPY", "KWD")] == ["0.00", "0", "0.000"]
    assert money.fmt(D("49"), "USD") == "49.00"
    assert money.fmt(D("1E+3"), "USD") == "1000.00"  # never scientific notation
    assert money.fmt(D("500.4"), "JPY") == "500"
    assert money.fmt(D("0.0004"), "USD") == "0.00"


def test_currencies():
    assert all(money.is_valid_currency(c) for c in ("USD", "EUR", "GBP", "JPY", "KRW", "BHD", "CHF"))
    assert not any(money.is_valid_currency(c) for c in ("usd", "XXX", "US", "", "EURO", None))
    assert [money.minor_unit(c) for c in ("USD", "JPY", "VND", "CLP", "ISK", "KWD", "TND")] == [2, 0, 0, 0, 0, 3, 3]
    assert money.minor_unit("ZZZ") == 2  # unlisted but well-formed: the default
    with pytest.raises(ValueError):
        money.minor_unit("usd")


def test_floats_are_refused():
    with pytest.raises(TypeError):
        money.quantize(0.1, "USD")


@pytest.mark.parametrize(
    ("total", "weights", "currency", "expected"),
    [
        ("10.00", ["1", "1", "1"], "USD", ["3.33", "3.33", "3.34"]),  # equal remainders: later part wins
        ("-10.00", ["1", "1", "1"], "USD", ["-3.33", "-3.33", "-3.34"]),
        ("100", ["1", "2"], "JPY", ["33", "67"]),
        ("1.00", ["0.7", "0.2", "0.1"], "USD", ["0.70", "0.20", "0.10"]),
        ("0.05", ["0", "0"], "USD", ["0.00", "0.05"]),  # all weights zero: everything to the last part
        ("0.02", ["1", "0", "1"], "USD", ["0.01", "0.00", "0.01"]),
        ("0.00", [], "USD", []),
    ],
)
def test_allocate(total, weights, currency, expected):
    parts = money.allocate(D(total), [D(w) for w in weights], currency)
    assert [str(p) for p in parts] == expected


def test_allocate_rejects_negative_weights_and_no_parts():
    with pytest.raises(ValueError):
        money.allocate(D("1.00"), [D("-1"), D("2")], "USD")
    with pytest.raises(ValueError):
        money.allocate(D("1.00"), [], "USD")
