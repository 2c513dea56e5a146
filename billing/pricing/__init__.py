"""Pure pricing engine: charge models, periods, proration, plan segments and totals.

No ORM and no clock: every function takes its inputs, including time, as arguments.
"""

from billing.pricing.charge_models import (
    CHARGE_MODELS,
    ChargeResult,
    ChargeSpec,
    RawCharge,
    Tier,
    TierLine,
    graduated,
    package,
    per_unit,
    price_charge,
    validate_charge,
    volume,
)
from billing.pricing.periods import add_months, period_containing, period_index, period_start_n
from billing.pricing.proration import fraction, prorate, seconds_between
from billing.pricing.segments import PlanSpan, Segment, Span, period_seconds, plan_segments
from billing.pricing.totals import DiscountSpec, Totals, compute_totals, scale_for_estimate

__all__ = [
    "CHARGE_MODELS",
    "ChargeResult",
    "ChargeSpec",
    "DiscountSpec",
    "PlanSpan",
    "RawCharge",
    "Segment",
    "Span",
    "Tier",
    "TierLine",
    "Totals",
    "add_months",
    "compute_totals",
    "fraction",
    "graduated",
    "package",
    "per_unit",
    "period_containing",
    "period_index",
    "period_seconds",
    "period_start_n",
    "plan_segments",
    "price_charge",
    "prorate",
    "scale_for_estimate",
    "seconds_between",
    "validate_charge",
    "volume",
]
