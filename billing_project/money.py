"""Money arithmetic for every app, re-exported from its pure home `billing.pricing.money` (no Django).

Existing callers keep importing `billing_project.money`; new pure code imports `billing.pricing.money`.
"""

from billing.pricing.money import (
    DEFAULT_MINOR_UNIT,
    EXACT_CONTEXT,
    MINOR_UNITS,
    allocate,
    fmt,
    fmt_price,
    from_minor_units,
    is_valid_currency,
    minor_unit,
    quantize,
    to_decimal,
    to_minor_units,
    zero,
)

__all__ = [
    "DEFAULT_MINOR_UNIT",
    "EXACT_CONTEXT",
    "MINOR_UNITS",
    "allocate",
    "fmt",
    "fmt_price",
    "from_minor_units",
    "is_valid_currency",
    "minor_unit",
    "quantize",
    "to_decimal",
    "to_minor_units",
    "zero",
]
