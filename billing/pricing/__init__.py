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
from billing.pricing.commitments import minimum_shortfall, one_off_amount
from billing.pricing.filters import ChargeFilter, dimension, filter_errors, filter_index, filter_keys
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
from billing.pricing.periods import add_months, period_containing, period_index, period_start_n
from billing.pricing.proration import fraction, prorate, seconds_between
from billing.pricing.segments import (
    OverrideSpan,
    PlanSpan,
    Segment,
    Span,
    merge_segments,
    period_seconds,
    plan_segments,
)
from billing.pricing.totals import DiscountSpec, Totals, compute_totals, scale_for_estimate

__all__ = [
    "CHARGE_MODELS",
    "ChargeFilter",
    "ChargeResult",
    "ChargeSpec",
    "DiscountSpec",
    "Level",
    "OverrideSpan",
    "PlanSpan",
    "RawCharge",
    "Reading",
    "Segment",
    "Span",
    "Tier",
    "TierLine",
    "Totals",
    "add_months",
    "compute_totals",
    "dimension",
    "filter_errors",
    "filter_index",
    "filter_keys",
    "fraction",
    "graduated",
    "latest_quantity",
    "level_integrals",
    "levels_after",
    "merge_segments",
    "minimum_shortfall",
    "one_off_amount",
    "package",
    "per_unit",
    "period_containing",
    "period_index",
    "period_seconds",
    "period_start_n",
    "plan_segments",
    "price_charge",
    "projected_integral",
    "prorate",
    "scale_for_estimate",
    "seconds_between",
    "total_level",
    "validate_charge",
    "volume",
    "weighted_quantity",
]
