"""Read the finance dashboard's figures: revenue, receivables, top tenants and daily usage cost.

Everything here is a read. Revenue and receivables are a few aggregate queries grouped by currency
(amounts in different currencies are never added up). Usage cost is priced exactly like the
preview (`billing.selectors.calculation`): the plan segments of each live subscription's periods
that overlap this month, each charge priced on the usage accumulated up to every day boundary.
Usage is read once per subscription (hourly rollups for whole hours, raw events only in the
partial hours at a segment's edges), so a day costs one price computation per charge, not a query.
The top tenants then get a real `preview_bill`, whose usage lines are what the table shows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from billing.models import Invoice, Plan, Subscription
from billing.pricing import add_months, period_index, period_seconds, period_start_n, price_charge
from billing.selectors.calculation import charge_spec, preview_bill, subscription_segments
from billing.selectors.terms import plan_terms
from billing.selectors.usage import (
    line_series,
    needs_own_read,
    usage_busiest_tenants,
    usage_hourly_rows,
    usage_segment,
    usage_unique_firsts,
)

UTC = UTC
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Live subscriptions whose usage this month is priced day by day (the busiest ones first).
MAX_USAGE_SUBSCRIPTIONS = 300
TOP_TENANTS = 10


def main_currency() -> str:
    """Return the currency the dashboard's cards and charts are drawn in (others are listed)."""
    return getattr(settings, "BILLING_DASHBOARD_CURRENCY", "USD")


@dataclass(frozen=True)
class MonthTotal:
    """An amount for one calendar month (UTC); ``month`` is its first day."""

    month: date
    amount: Decimal


@dataclass(frozen=True)
class DayTotal:
    """An amount for one UTC day."""

    day: date
    amount: Decimal


@dataclass(frozen=True)
class CurrencyAmount:
    """A sum over ``count`` invoices in one currency."""

    currency: str
    amount: Decimal
    count: int


@dataclass(frozen=True)
class TopTenant:
    """A tenant ranked by the usage cost of its current period so far (from its preview)."""

    tenant_id: str
    name: str
    plan_id: str
    status: str
    currency: str
    usage: Decimal
    total: Decimal
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class UsageThisMonth:
    """Usage cost per day this month by currency, and each priced subscription's current-period usage."""

    days: dict[str, list[DayTotal]]
    current_usage: dict[object, Decimal]
    subscriptions: list[Subscription]
    considered: int
    live_with_usage: int


@dataclass(frozen=True)
class Dashboard:
    """Every figure on the dashboard, as of ``now``."""

    now: datetime
    currency: str
    months: list[date]
    invoiced: dict[str, list[MonthTotal]]
    collected: dict[str, list[MonthTotal]]
    outstanding: dict[str, CurrencyAmount]
    overdue: dict[str, CurrencyAmount]
    top_tenants: list[TopTenant]
    usage_days: dict[str, list[DayTotal]]
    usage_considered: int
    usage_live_with_usage: int
    currencies: list[str] = field(default_factory=list)


def month_start(at: datetime) -> datetime:
    """Return the first instant of the UTC calendar month containing ``at``."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def last_months(*, now: datetime, count: int = 12) -> list[date]:
    """Return the first days of the ``count`` UTC months ending with the current one, oldest first."""
    current = month_start(now)
    return [add_months(current, -n).date() for n in range(count - 1, -1, -1)]


def _by_month(rows, months: list[date]) -> dict[str, list[MonthTotal]]:
    """Return {currency: one MonthTotal per month (0 where nothing)} from (currency, month, amount) rows."""
    found: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        found[row["currency"]][row["month"].astimezone(UTC).date()] = row["amount"] or Decimal(0)
    return {
        currency: [MonthTotal(m, amounts.get(m, Decimal(0))) for m in months]
        for currency, amounts in sorted(found.items())
    }


def invoiced_by_month(*, now: datetime, count: int = 12) -> dict[str, list[MonthTotal]]:
    """Return {currency: totals of finalized, non-void invoices by the month they were finalized}."""
    months = last_months(now=now, count=count)
    start = datetime.combine(months[0], datetime.min.time(), tzinfo=UTC)
    rows = (
        Invoice.objects.filter(finalized_at__gte=start, finalized_at__lte=now)
        .exclude(status=Invoice.Status.VOID)
        .annotate(month=TruncMonth("finalized_at", tzinfo=UTC))
        .values("currency", "month")
        .annotate(amount=Sum("total"))
        .order_by()
    )
    return _by_month(rows, months)


def collected_by_month(*, now: datetime, count: int = 12) -> dict[str, list[MonthTotal]]:
    """Return {currency: amounts paid on invoices by the month they were paid}."""
    months = last_months(now=now, count=count)
    start = datetime.combine(months[0], datetime.min.time(), tzinfo=UTC)
    rows = (
        Invoice.objects.filter(status=Invoice.Status.PAID, paid_at__gte=start, paid_at__lte=now)
        .annotate(month=TruncMonth("paid_at", tzinfo=UTC))
        .values("currency", "month")
        .annotate(amount=Sum("amount_paid"))
        .order_by()
    )
    return _by_month(rows, months)


def receivables(*, now: datetime) -> tuple[dict[str, CurrencyAmount], dict[str, CurrencyAmount]]:
    """Return ({currency: outstanding}, {currency: overdue}): open invoices' amount due, all and past due."""
    rows = (
        Invoice.objects.filter(status=Invoice.Status.OPEN)
        .values("currency")
        .annotate(
            amount=Sum("amount_due"),
            count=Count("id"),
            overdue_amount=Sum("amount_due", filter=Q(due_at__lt=now)),
            overdue_count=Count("id", filter=Q(due_at__lt=now)),
        )
        .order_by("currency")
    )
    outstanding, overdue = {}, {}
    for r in rows:
        outstanding[r["currency"]] = CurrencyAmount(r["currency"], r["amount"] or Decimal(0), r["count"])
        if r["overdue_count"]:
            overdue[r["currency"]] = CurrencyAmount(r["currency"], r["overdue_amount"], r["overdue_count"])
    return outstanding, overdue


# --- Usage cost ------------------------------------------------------------------------------------


def _periods_overlapping(
    sub: Subscription, interval: str, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """Return the subscription's billing periods that overlap [lo, hi), up to its current one."""
    periods = [(sub.current_period_start, sub.current_period_end)]
    if sub.current_period_start <= sub.started_at:
        return periods
    n = period_index(sub.started_at, interval, sub.current_period_start)
    while n > 0 and periods[-1][0] > lo:
        n -= 1
        # min(): a reactivated subscription's current period need not sit on the original anchor.
        end = min(period_start_n(sub.started_at, interval, n + 1), periods[-1][0])
        periods.append((period_start_n(sub.started_at, interval, n), end))
    return [p for p in reversed(periods) if p[0] < hi and p[1] > lo]


def _boundaries(lo: datetime, hi: datetime) -> list[datetime]:
    """Return lo, every UTC midnight strictly inside (lo, hi), and hi."""
    points = [lo]
    day = datetime(lo.year, lo.month, lo.day, tzinfo=UTC) + DAY
    while day < hi:
        points.append(day)
        day += DAY
    points.append(hi)
    return points


def _subscription_daily(sub: Subscription, plans: dict[str, Plan], *, start: datetime, now: datetime):
    """Return ({day: usage cost added that day}, usage cost of the current period up to now)."""
    interval = plans[sub.plan_id].interval
    periods = _periods_overlapping(sub, interval, start, now)
    plan_segments = []
    for ps, pe in periods:
        segs = subscription_segments(subscription=sub, period_start=ps, period_end=pe, cutoff=now)
        plan_segments.append((ps, pe, segs))
    codes = {c.metric_id for ps, pe, segs in plan_segments for s in segs for c in plans[s.plan_id].charges.all()}
    windows = [
        (s.usage_start, s.usage_end) for _, _, segs in plan_segments for s in segs if s.usage_start < s.usage_end
    ]
    hourly: list[tuple] = []
    if codes and windows:
        lo, hi = min(w[0] for w in windows), max(w[1] for w in windows)
        hourly = usage_hourly_rows(tenant_id=sub.tenant_id, codes=codes, lo=lo, hi=hi)
    days: dict[date, Decimal] = defaultdict(Decimal)
    current = Decimal(0)
    for ps, pe, segs in plan_segments:
        window_lo, window_hi = max(ps, start), min(pe, now, sub.ended_at or pe)
        if window_hi <= window_lo:
            continue
        points = _boundaries(window_lo, window_hi)
        # NOTE: a period's usage cost restarts at zero at its start (tiers restart), so the first
        # boundary counts from 0 when the period begins inside the window, else from what had
        # accrued by the window's start.
        cumulative = [Decimal(0)] * len(points)
        for seg in segs:
            _add_segment_cost(cumulative, sub, plans[seg.plan_id], seg, points, (ps, pe), hourly)
        base = Decimal(0) if window_lo == ps else cumulative[0]
        previous = base
        for k in range(1, len(points)):
            days[points[k - 1].date()] += cumulative[k] - previous
            previous = cumulative[k]
        if ps == sub.current_period_start:
            current = cumulative[-1]
    return days, current


def _add_segment_cost(cumulative: list[Decimal], sub, plan: Plan, seg, points, period, hourly: list[tuple]) -> None:
    """Add one plan segment's priced usage up to each of `points` into `cumulative` (in place)."""
    ps, pe = period
    charges = list(plan.charges.all())
    if not charges:
        return
    priced = plan_terms(plan, charges).charges
    special = [p for p in priced if needs_own_read(p)]
    charges = [c for c, p in zip(charges, priced, strict=True) if not needs_own_read(p)]
    for k, amount in enumerate(_special_amounts(sub, seg, special, points, ps, pe)):
        cumulative[k] += amount
    metrics = {c.metric_id: c.metric.aggregation for c in charges}
    acc = usage_segment(tenant_id=sub.tenant_id, segment=seg, metrics=metrics, hourly=hourly)
    for c in charges:
        if c.metric.aggregation == "unique_count" and seg.usage_start < seg.usage_end:
            acc[c.metric_id].firsts = usage_unique_firsts(
                tenant_id=sub.tenant_id, segment=seg, metric_id=c.metric_id, field_name=c.metric.field
            )
    clipped = [
        min(max(t, seg.usage_start), seg.usage_end) if seg.usage_start < seg.usage_end else seg.usage_start
        for t in points
    ]
    spec_cache = {c.pk: charge_spec(c) for c in charges}
    quantities = {code: a.quantities_at(clipped) for code, a in acc.items()}
    for c in charges:
        for k, q in enumerate(quantities[c.metric_id]):
            cumulative[k] += price_charge(spec_cache[c.pk], q, sub.currency).amount


def _special_amounts(sub, seg, charges, points: list[datetime], ps: datetime, pe: datetime) -> list[Decimal]:
    """Return the priced usage of filtered or level charges up to each point (one part per filter)."""
    totals = [Decimal(0)] * len(points)
    if seg.usage_end <= seg.usage_start:
        return totals
    for charge in charges:
        for key in (None, *range(len(charge.filters))):
            spec = charge.spec if key is None else charge.filters[key].spec
            series = line_series(
                tenant_id=sub.tenant_id,
                start=seg.usage_start,
                end=seg.usage_end,
                charge=charge,
                key=key,
                period_s=period_seconds(ps, pe),
                edges=points,
            )
            for k, quantity in enumerate(series):
                totals[k] += price_charge(spec, quantity, sub.currency).amount
    return totals


def usage_this_month(*, now: datetime, limit: int = MAX_USAGE_SUBSCRIPTIONS) -> UsageThisMonth:
    """Return the usage cost per UTC day of this month (by currency) over live subscriptions.

    Only tenants with usage in the last 12 months can add anything (a yearly period overlapping this
    month may start that early); the `limit` busiest of them, by events recorded, are priced.
    """
    start = month_start(now)
    live = Subscription.objects.exclude(status=Subscription.Status.CANCELED).filter(started_at__lt=now)
    # A period overlapping this month can start up to a year earlier (yearly plans).
    busy = usage_busiest_tenants(tenant_ids=live.values("tenant_id"), start=add_months(start, -12), end=now)
    live_with_usage = busy.count()
    tenant_ids = [r["tenant_id"] for r in busy[:limit]]
    subs = list(
        live.filter(tenant_id__in=tenant_ids).select_related("tenant", "plan").prefetch_related("plan_spans", "pauses")
    )
    plan_ids = {s.plan_id for s in subs} | {span.plan_id for s in subs for span in s.plan_spans.all()}
    plans = {p.id: p for p in Plan.objects.filter(id__in=plan_ids).prefetch_related("charges__metric")}
    day_list = [(start + DAY * i).date() for i in range((now - start).days + 1)]
    by_currency: dict[str, dict[date, Decimal]] = defaultdict(lambda: {d: Decimal(0) for d in day_list})
    current_usage: dict[object, Decimal] = {}
    for sub in subs:
        days, current = _subscription_daily(sub, plans, start=start, now=now)
        series = by_currency[sub.currency]
        for d, amount in days.items():
            if d in series:
                series[d] += amount
        current_usage[sub.pk] = current
    return UsageThisMonth(
        days={c: [DayTotal(d, v) for d, v in sorted(s.items())] for c, s in sorted(by_currency.items())},
        current_usage=current_usage,
        subscriptions=subs,
        considered=len(subs),
        live_with_usage=live_with_usage,
    )


def top_tenants_by_usage(
    *, now: datetime, usage: UsageThisMonth | None = None, limit: int = TOP_TENANTS
) -> list[TopTenant]:
    """Return the `limit` tenants with the highest usage cost this period, main currency first.

    Ranked on the day-by-day pricing of `usage_this_month`; the figures shown come from each
    winner's `preview_bill` (its usage lines and its total so far).
    """
    usage = usage or usage_this_month(now=now)
    main = main_currency()
    ranked = sorted(
        (s for s in usage.subscriptions if usage.current_usage.get(s.pk, Decimal(0)) > 0),
        key=lambda s: (s.currency != main, -usage.current_usage[s.pk], s.tenant_id),
    )[:limit]
    top = []
    for sub in ranked:
        bill = preview_bill(subscription=sub, now=now)
        top.append(
            TopTenant(
                tenant_id=sub.tenant_id,
                name=sub.tenant.name or sub.tenant_id,
                plan_id=sub.plan_id,
                status=sub.status,
                currency=bill.currency,
                usage=sum((line.amount for line in bill.lines if line.type == "usage"), Decimal(0)),
                total=bill.totals.total,
                period_start=bill.period_start,
                period_end=bill.period_end,
            )
        )
    top.sort(key=lambda t: (t.currency != main, -t.usage, t.tenant_id))
    return top


def dashboard_summary(*, now: datetime) -> Dashboard:
    """Return every figure of the finance dashboard as of `now`."""
    usage = usage_this_month(now=now)
    outstanding, overdue = receivables(now=now)
    invoiced = invoiced_by_month(now=now)
    collected = collected_by_month(now=now)
    currencies = sorted(set(invoiced) | set(collected) | set(outstanding) | set(usage.days) | {main_currency()})
    return Dashboard(
        now=now,
        currency=main_currency(),
        months=last_months(now=now),
        invoiced=invoiced,
        collected=collected,
        outstanding=outstanding,
        overdue=overdue,
        top_tenants=top_tenants_by_usage(now=now, usage=usage),
        usage_days=usage.days,
        usage_considered=usage.considered,
        usage_live_with_usage=usage.live_with_usage,
        currencies=currencies,
    )
