"""Money arithmetic shared by every app (pure: the standard library only): currencies, rounding, allocation
and formatting.

An amount is a ``Decimal`` in major units next to an ISO 4217 currency code. Every amount that
reaches an invoice passes :func:`quantize` once (ROUND_HALF_UP to the currency's minor unit), sums
start from :func:`zero` in the right currency, and :func:`allocate` splits a rounded total into
rounded parts that add up to it exactly. Floats are refused everywhere.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction

_ZERO_DECIMALS = ("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF").split()
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND".split()
_FOUR_DECIMALS = "CLF UYW".split()
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP "
    "LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR "
    "NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR "
    "ZMW ZWG"
).split()

#: ISO 4217 exponent (digits after the decimal point) of every currency we accept.
MINOR_UNITS: dict[str, int] = {
    **{code: 2 for code in _TWO_DECIMALS},
    **{code: 0 for code in _ZERO_DECIMALS},
    **{code: 3 for code in _THREE_DECIMALS},
    **{code: 4 for code in _FOUR_DECIMALS},
}

DEFAULT_MINOR_UNIT = 2

# NOTE: intermediate products of quantities (12 places) and prices (12 places) need more than the
# default 28 significant digits to stay exact; 80 is far beyond any realistic amount.
EXACT_CONTEXT = Context(prec=80)


def is_valid_currency(code: str) -> bool:
    """Return whether ``code`` is an uppercase ISO 4217 currency code we accept."""
    return isinstance(code, str) and code in MINOR_UNITS


def minor_unit(currency: str) -> int:
    """Return the number of decimal places of ``currency`` (2 for an unlisted 3-letter code)."""
    if currency in MINOR_UNITS:
        return MINOR_UNITS[currency]
    if isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper():
        return DEFAULT_MINOR_UNIT
    raise ValueError(f"unknown currency {currency!r}")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as a Decimal; floats are refused because they are not exact."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (float, bool)) or not isinstance(value, (int, str)):
        raise TypeError(f"money needs Decimal, int or str, not {type(value).__name__}")
    return Decimal(value)


def quantize(amount: Decimal | int | str, currency: str) -> Decimal:
    """Return ``amount`` rounded ROUND_HALF_UP to the minor unit of ``currency``."""
    exponent = Decimal(1).scaleb(-minor_unit(currency))
    with localcontext(EXACT_CONTEXT):
        rounded = to_decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)
    # A tiny negative amount would otherwise round to "-0.00".
    return rounded.copy_abs() if rounded.is_zero() else rounded


def zero(currency: str) -> Decimal:
    """Return zero with the minor-unit places of ``currency`` (``0.00`` USD, ``0`` JPY)."""
    return quantize(Decimal(0), currency)


def to_minor_units(amount: Decimal | int | str, currency: str) -> int:
    """Return ``amount`` as an integer count of minor units (12.34 USD -> 1234, 500 JPY -> 500)."""
    with localcontext(EXACT_CONTEXT):
        return int(quantize(amount, currency).scaleb(minor_unit(currency)))


def from_minor_units(units: int, currency: str) -> Decimal:
    """Return the Decimal amount of ``units`` minor units of ``currency`` (1234 USD -> 12.34)."""
    with localcontext(EXACT_CONTEXT):
        return quantize(Decimal(units).scaleb(-minor_unit(currency)), currency)


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Return ``total`` split across ``weights`` in rounded parts that sum exactly to ``total``.

    Largest-remainder method on minor units: each part gets the floor of its exact share and the
    leftover minor units go, one each, to the parts with the largest remainders (ties to the later
    part). When every weight is zero the whole total goes to the last part.
    """
    weights = [to_decimal(w) for w in weights]
    if any(w < 0 for w in weights):
        raise ValueError("allocation weights must not be negative")
    units = to_minor_units(total, currency)
    if not weights:
        if units:
            raise ValueError("cannot allocate a non-zero total across no parts")
        return []
    sign, units = (-1 if units < 0 else 1), abs(units)
    weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
    if weight_sum == 0:
        shares = [0] * (len(weights) - 1) + [units]
    else:
        exact = [units * Fraction(w) / weight_sum for w in weights]
        shares = [int(share) for share in exact]  # floor: shares are non-negative
        leftover = units - sum(shares)
        by_remainder = sorted(range(len(exact)), key=lambda i: (exact[i] - shares[i], i), reverse=True)
        for i in by_remainder[:leftover]:
            shares[i] += 1
    return [from_minor_units(sign * share, currency) for share in shares]


def fmt(amount: Decimal | int | str, currency: str) -> str:
    """Return ``amount`` as a plain string with exactly the currency's minor-unit places."""
    return format(quantize(amount, currency), "f")


def fmt_price(price: Decimal | int | str, currency: str) -> str:
    """Return a unit price with at least the currency's minor-unit places: "0.10", "0.0004", "49.00"."""
    value = to_decimal(price)
    exponent = value.normalize().as_tuple().exponent if value else 0
    places = max(minor_unit(currency), -exponent if isinstance(exponent, int) else 0)
    return format(value.quantize(Decimal(1).scaleb(-places)), "f")
