"""Parametrised tables for every charge model, at and around every tier boundary.

Specs are the contract's example catalog (section 3) plus flat-fee and JPY variants; each expected
amount is worked out by hand in the comment beside it.
"""

from decimal import Decimal as D

import pytest

from billing.pricing.charge_models import ChargeSpec, Tier, price_charge, validate_charge

API_CALLS = ChargeSpec(
    model="graduated",
    tiers=(Tier(D("10000"), D("0")), Tier(D("1000000"), D("0.0004")), Tier(None, D("0.0002"))),
)
STORAGE_GB = ChargeSpec(model="per_unit", unit_price=D("0.10"), free_units=D("5"))
ACTIVE_USERS = ChargeSpec(model="volume", tiers=(Tier(D("100"), D("2.00")), Tier(None, D("1.50"))))
JOBS = ChargeSpec(model="package", package_size=D("100"), package_price=D("1.00"))
GRADUATED_FEES = ChargeSpec(
    model="graduated",
    tiers=(
        Tier(D("10"), D("0"), flat_fee=D("5.00")),
        Tier(D("100"), D("1.00"), flat_fee=D("20.00")),
        Tier(None, D("0.50")),
    ),
)
FREE_PACKAGE = ChargeSpec(model="package", free_units=D("5"), package_size=D("10"), package_price=D("2.50"))
VOLUME_FEES = ChargeSpec(
    model="volume",
    tiers=(Tier(D("10"), D("1.00"), flat_fee=D("10.00")), Tier(None, D("0.80"), flat_fee=D("5.00"))),
)


def priced(spec, quantity, currency="USD"):
    """Return the rounded amount of ``spec`` at ``quantity`` as a string."""
    return str(price_charge(spec, D(quantity), currency).amount)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("9999.999999", "0.00"),  # all in the free tier
        ("10000", "0.00"),  # the boundary belongs to the free tier
        ("10000.5", "0.00"),  # 0.5 × 0.0004 = 0.0002
        ("10001", "0.00"),  # 1 × 0.0004
        ("10012.5", "0.01"),  # 12.5 × 0.0004 = 0.005 → half up
        ("12500", "1.00"),  # 2,500 × 0.0004
        ("999999.999999", "396.00"),  # 989,999.999999 × 0.0004 = 395.9999999996
        ("1000000", "396.00"),  # 990,000 × 0.0004
        ("1000000.5", "396.00"),  # 396 + 0.5 × 0.0002 = 396.0001
        ("1000001", "396.00"),  # 396 + 0.0002
        ("1250000", "446.00"),  # 396 + 250,000 × 0.0002 = 396 + 50
    ],
)
def test_graduated_api_calls(quantity, expected):
    assert priced(API_CALLS, quantity) == expected


def test_graduated_breakdown_lists_each_tier_touched():
    result = price_charge(API_CALLS, D("1250000"), "USD")
    assert result.unit_price is None
    assert [(str(t.quantity), str(t.unit_price), str(t.amount)) for t in result.tiers] == [
        ("10000", "0", "0.00"),
        ("990000", "0.0004", "396.00"),
        ("250000", "0.0002", "50.00"),
    ]
    assert price_charge(API_CALLS, D("10000"), "USD").tiers[-1].quantity == D("10000")
    assert len(price_charge(API_CALLS, D("10000"), "USD").tiers) == 1
    assert price_charge(API_CALLS, D("0"), "USD").tiers == ()


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("4.999999", "0.00"),
        ("5", "0.00"),  # all free
        ("5.049999", "0.00"),  # 0.049999 × 0.10 = 0.0049999
        ("5.05", "0.01"),  # 0.005 → half up
        ("5.5", "0.05"),
        ("6", "0.10"),
        ("10000.5", "999.55"),  # 9,995.5 × 0.10
    ],
)
def test_per_unit_storage(quantity, expected):
    assert priced(STORAGE_GB, quantity) == expected
    assert price_charge(STORAGE_GB, D(quantity), "USD").unit_price == D("0.10")


@pytest.mark.parametrize(
    ("quantity", "expected", "unit_price"),
    [
        ("0", "0.00", "2.00"),
        ("1", "2.00", "2.00"),
        ("99.999999", "200.00", "2.00"),  # 199.999998
        ("100", "200.00", "2.00"),  # the boundary belongs to the first tier
        ("100.5", "150.75", "1.50"),  # every unit at 1.50
        ("101", "151.50", "1.50"),
    ],
)
def test_volume_active_users(quantity, expected, unit_price):
    result = price_charge(ACTIVE_USERS, D(quantity), "USD")
    assert (str(result.amount), str(result.unit_price)) == (expected, unit_price)
    assert sum(t.amount for t in result.tiers) == result.amount


@pytest.mark.parametrize(
    ("spec", "quantity", "expected"),
    [
        (JOBS, "0", "0.00"),
        (JOBS, "1", "1.00"),
        (JOBS, "99.999999", "1.00"),
        (JOBS, "100", "1.00"),
        (JOBS, "101", "2.00"),
        (JOBS, "250.5", "3.00"),
        (FREE_PACKAGE, "5", "0.00"),  # all free
        (FREE_PACKAGE, "15", "2.50"),  # 10 billable units: one package
        (FREE_PACKAGE, "15.000001", "5.00"),  # a sliver over: a second package
    ],
)
def test_package(spec, quantity, expected):
    result = price_charge(spec, D(quantity), "USD")
    assert (str(result.amount), result.unit_price, result.tiers) == (expected, None, ())


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),  # no unit, no flat fee
        ("0.5", "5.00"),  # first tier touched: its flat fee
        ("10", "5.00"),
        ("10.000001", "25.00"),  # 5 + 0.000001 × 1.00 + 20 = 25.000001
        ("11", "26.00"),  # 5 + 1 + 20
        ("100", "115.00"),  # 5 + 90 + 20
        ("101", "115.50"),  # 5 + 90 + 20 + 0.50 (last tier has no fee)
    ],
)
def test_graduated_flat_fees(quantity, expected):
    assert priced(GRADUATED_FEES, quantity) == expected


def test_graduated_flat_fee_breakdown():
    tiers = price_charge(GRADUATED_FEES, D("101"), "USD").tiers
    assert [(str(t.flat_fee), str(t.amount)) for t in tiers] == [("5.00", "5.00"), ("20.00", "110.00"), ("0", "0.50")]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("0", "0.00"),
        ("10", "20.00"),  # 10 × 1.00 + 10
        ("10.5", "13.40"),  # 10.5 × 0.80 + 5
        ("11", "13.80"),  # 11 × 0.80 + 5
    ],
)
def test_volume_flat_fees(quantity, expected):
    assert priced(VOLUME_FEES, quantity) == expected


def test_jpy_rounds_to_whole_yen():
    per_unit = ChargeSpec(model="per_unit", unit_price=D("12.5"))
    assert priced(per_unit, "1", "JPY") == "13"  # 12.5 → half up
    assert priced(per_unit, "3", "JPY") == "38"  # 37.5
    tiered = ChargeSpec(model="graduated", tiers=(Tier(D("100"), D("1.5")), Tier(None, D("1.25"))))
    result = price_charge(tiered, D("101"), "JPY")
    assert str(result.amount) == "151"  # 150 + 1.25 = 151.25
    assert [str(t.amount) for t in result.tiers] == ["150", "1"]


def test_tier_amounts_sum_to_the_line_when_each_would_round_up():
    spec = ChargeSpec(model="graduated", tiers=(Tier(D("1"), D("0.005")), Tier(None, D("0.005"))))
    result = price_charge(spec, D("2"), "USD")
    assert str(result.amount) == "0.01"  # 0.005 + 0.005, rounded once
    assert [str(t.amount) for t in result.tiers] == ["0.00", "0.01"]  # not 0.01 + 0.01


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (ChargeSpec(model="flat"), "unknown charge model"),
        (ChargeSpec(model="per_unit"), "unit_price: required"),
        (ChargeSpec(model="per_unit", unit_price=D("-1")), "unit_price: must not be negative"),
        (ChargeSpec(model="per_unit", unit_price=D("1"), free_units=D("-1")), "free_units"),
        (ChargeSpec(model="package", package_size=D("0"), package_price=D("1")), "package_size"),
        (ChargeSpec(model="package", package_size=D("10")), "package_price"),
        (ChargeSpec(model="graduated"), "at least one tier"),
        (ChargeSpec(model="volume", tiers=(Tier(D("10"), D("1")),)), "tiers.0.up_to: the last tier must be open-ended"),
        (ChargeSpec(model="volume", tiers=(Tier(None, D("1")), Tier(None, D("1")))), "tiers.0.up_to: only the last"),
        (
            ChargeSpec(model="graduated", tiers=(Tier(D("10"), D("1")), Tier(D("5"), D("1")), Tier(None, D("1")))),
            "tiers.1.up_to: must be greater than 10",
        ),
        (ChargeSpec(model="graduated", tiers=(Tier(D("0"), D("1")), Tier(None, D("1")))), "tiers.0.up_to"),
        (ChargeSpec(model="graduated", tiers=(Tier(None, D("-0.01")),)), "tiers.0.unit_price"),
        (ChargeSpec(model="graduated", tiers=(Tier(None, D("1"), flat_fee=D("-1")),)), "tiers.0.flat_fee"),
        (ChargeSpec(model="per_unit", unit_price=D("1"), tiers=(Tier(None, D("1")),)), "tiers: not used"),
    ],
)
def test_validate_charge_reports_problems(spec, fragment):
    errors = validate_charge(spec)
    assert any(fragment in e for e in errors), errors
    with pytest.raises(ValueError):
        price_charge(spec, D("1"), "USD")


def test_catalog_specs_are_valid_and_negative_quantity_is_refused():
    for spec in (API_CALLS, STORAGE_GB, ACTIVE_USERS, JOBS, GRADUATED_FEES, VOLUME_FEES):
        assert validate_charge(spec) == []
    with pytest.raises(ValueError):
        price_charge(STORAGE_GB, D("-1"), "USD")
