"""A period's bill as it accrues: what `period_bill` charges beyond the base price, cut at each of a list of instants.

The finance dashboard draws its usage cost per day from this. The bill itself comes from
`period_bill` (plan segments, price overrides, filters, minimum commitment, one-off charges); this
module only re-prices the bill's own lines at earlier cuts: each usage line on its usage up to the
cut (the caller reads those quantities, so a day costs no query), each segment's minimum-commitment
shortfall against its base prorated to the cut, and the pending one-off charges created before it.
At the last instant the figure is the bill's own, to the cent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from billing.models import Subscription
from billing.pricing import minimum_shortfall, period_seconds, price_charge, prorate
from billing.selectors.calculation import BillLine, PeriodBill, period_bill, subscription_segments
from billing.selectors.terms import pending_one_offs, subscription_overrides

#: (usage lines, ascending instants) -> per line, its quantity over [usage_start, min(instant, usage_end)) at each.
UsageAt = Callable[[list[BillLine], list[datetime]], list[list[Decimal]]]

EXTRA_TYPES = ("usage", "minimum", "one_off")


def bill_extras(bill: PeriodBill, *, one_offs: bool = True) -> Decimal:
    """Return the amount of the bill's lines other than the base (usage, minimum, one-offs if asked)."""
    types = EXTRA_TYPES if one_offs else EXTRA_TYPES[:2]
    return sum((line.amount for line in bill.lines if line.type in types), Decimal(0))


def bill_accrual(
    *,
    subscription: Subscription,
    period_start: datetime,
    period_end: datetime,
    points: list[datetime],
    usage_at: UsageAt,
    plans: dict | None = None,
    history: tuple | None = None,
    one_offs: bool = True,
) -> tuple[PeriodBill, list[Decimal]]:
    """Return the bill of [period_start, min(period_end, points[-1], ended_at)) and its accrual at `points`.

    The accrual at an instant t is `bill_extras` of the bill cut at t: usage lines priced on the
    usage before t, the minimum shortfall of each segment started before t, and (with `one_offs`)
    the pending one-off charges created before t — all of them at the last point, as on the bill.
    """
    bill = period_bill(
        subscription=subscription,
        period_start=period_start,
        period_end=period_end,
        cutoff=points[-1],
        credits_available=Decimal(0),
        plans=plans,
        history=history,
        discount=None,
    )
    totals = _segments_accrual(subscription, bill, points, usage_at, history, (period_start, period_end))
    if one_offs and bill.one_off_ids:
        for charge in pending_one_offs(subscription):
            if charge.pk not in bill.one_off_ids:
                continue
            for k, t in enumerate(points):
                if charge.created_at < t or k == len(points) - 1:
                    totals[k] += Decimal(charge.amount)
    return bill, totals


def _segments_accrual(
    subscription: Subscription, bill: PeriodBill, points: list[datetime], usage_at: UsageAt, history, period
) -> list[Decimal]:
    """Return the usage and minimum lines of `bill` re-priced with the period cut at each of `points`."""
    period_s = period_seconds(*period)
    currency = subscription.currency
    spans, _ = subscription_overrides(subscription)
    # The unmerged segments of each cut: a merged segment's base seconds up to t are its pieces' sum.
    cuts = [
        subscription_segments(
            subscription=subscription,
            period_start=period[0],
            period_end=period[1],
            cutoff=t,
            history=history,
            overrides=spans,
        )
        for t in points
    ]
    lines = [line for line in bill.lines if line.type == "usage" and line.charge is not None]
    quantities = usage_at(lines, points) if lines else []
    totals = [Decimal(0)] * len(points)
    for segment, terms in bill.segments:
        usage = [Decimal(0)] * len(points)
        for line, series in zip(lines, quantities, strict=True):
            if line.period_start != segment.start:
                continue
            spec = line.charge.spec if line.filter_key is None else line.charge.filters[line.filter_key].spec
            priced: dict[Decimal, Decimal] = {}  # most days repeat a quantity (none yet, nothing new)
            for k, quantity in enumerate(series):
                if quantity not in priced:
                    priced[quantity] = price_charge(spec, quantity, currency).amount
                usage[k] += priced[quantity]
        for k, t in enumerate(points):
            if t <= segment.start:
                continue  # the bill cut at t has no such segment yet
            base_s = sum((p.base_seconds for p in cuts[k] if segment.start <= p.start < segment.end), Decimal(0))
            shortfall = minimum_shortfall(
                minimum_amount=terms.minimum_amount,
                base_seconds=base_s,
                period_seconds=period_s,
                line_amounts=[prorate(terms.base_price, base_s, period_s, currency), usage[k]],
                currency=currency,
            )
            totals[k] += usage[k] + (shortfall or Decimal(0))
    return totals
