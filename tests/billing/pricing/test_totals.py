"""Tests for billing.pricing.totals: the order of contract section 6 and estimate scaling."""

from decimal import Decimal as D

import pytest

from billing.pricing.totals import DiscountSpec, compute_totals, scale_for_estimate


def totals(lines, *, currency="USD", discount=None, tax_rate="0", credits="0"):
    """Return the totals as a tuple of strings."""
    t = compute_totals(
        line_amounts=[D(x) for x in lines],
        currency=currency,
        discount=discount,
        tax_rate=D(tax_rate),
        credits_available=D(credits),
    )
    return tuple(str(x) for x in (t.subtotal, t.discount, t.tax, t.total, t.credits_applied, t.amount_due))


def test_full_order_with_percent_discount_tax_and_credits():
    # subtotal 61.35; 10 % = 6.135 → 6.14; tax (55.21 × 0.2 = 11.042) → 11.04; total 66.25
    ten_percent = DiscountSpec(percent_off=D("10"))
    assert totals(["49.00", "12.35"], discount=ten_percent, tax_rate="0.2", credits="10") == (
        "61.35",
        "6.14",
        "11.04",
        "66.25",
        "10.00",
        "56.25",
    )
    # credits beyond the total are not consumed
    assert totals(["49.00", "12.35"], discount=ten_percent, tax_rate="0.2", credits="100")[4:] == ("66.25", "0.00")


def test_amount_off_never_exceeds_the_subtotal():
    assert totals(["20.00"], discount=DiscountSpec(amount_off=D("50")), tax_rate="0.2", credits="5") == (
        "20.00",
        "20.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
    )


def test_empty_invoice_and_jpy():
    assert totals([]) == ("0.00",) * 6
    # 4913 × 15 % = 736.95 → 737; (4913 − 737) × 0.1 = 417.6 → 418
    assert totals(["4900", "13"], currency="JPY", discount=DiscountSpec(percent_off=D("15")), tax_rate="0.1") == (
        "4913",
        "737",
        "418",
        "4594",
        "0",
        "4594",
    )


def test_invalid_inputs():
    with pytest.raises(ValueError):
        totals(["1.005"])  # lines must already be rounded
    with pytest.raises(ValueError):
        totals(["1.00"], tax_rate="-0.1")
    with pytest.raises(ValueError):
        DiscountSpec(percent_off=D("10"), amount_off=D("1"))
    with pytest.raises(ValueError):
        DiscountSpec(percent_off=D("101"))


@pytest.mark.parametrize(
    ("quantity", "aggregation", "elapsed", "period", "expected"),
    [
        ("100", "sum", 10, 30, "300.000000000000"),
        ("7", "count", 30, 30, "7.000000000000"),
        ("1", "sum", 3, 1, "0.333333333333"),
        ("2", "sum", 3, 1, "0.666666666667"),  # half up at 12 places
        ("100", "sum", 0, 30, "100.000000000000"),  # nothing elapsed: as it stands
        ("42", "max", 10, 30, "42.000000000000"),
        ("12", "unique_count", 10, 30, "12.000000000000"),
    ],
)
def test_scale_for_estimate(quantity, aggregation, elapsed, period, expected):
    assert str(scale_for_estimate(D(quantity), aggregation, D(elapsed), D(period))) == expected


def test_scale_for_estimate_rejects_unknown_aggregation():
    with pytest.raises(ValueError):
        scale_for_estimate(D(1), "avg", D(1), D(2))
