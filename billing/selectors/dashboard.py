"""Read the finance dashboard's figures: revenue, receivables, top tenants and daily usage cost.

Everything here is a read. Revenue and receivables are a few aggregate queries grouped by currency
(amounts in different currencies are never added up). Usage cost is what the preview charges beyond
the base price — usage lines, minimum-commitment top-ups and pending one-off charges — priced by
`period_bill` itself (price overrides and filters included) for each live subscription's periods
that overlap this month, then re-priced at every UTC midnight by `billing.selectors.accrual`; a
day's cost is the increase. Usage is read per usage window in a few statements (`daily_quantities`:
rollups folded into days, raw events only in partial hours), so a day costs a price computation
per line, not a query. The top tenants then get a real `preview_bill` for the table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from billing.models import Invoice, Metric, Subscription
from billing.pricing import add_months, period_index, period_seconds, period_start_n
from billing.selectors.accrual import UsageAt, bill_accrual, bill_extras
from billing.selectors.calculation import BillLine, preview_bill, subscription_history
from billing.selectors.terms import PENDING_ONE_OFFS
from billing.selectors.usage import daily_quantities, line_series, needs_own_read, usage_busiest_tenants

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
    """Usage cost per day this month by currency, and each priced subscription's current-period usage cost.

    "Usage cost" is what the preview charges beyond the base price (`accrual.bill_extras`).
    """

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


def _running(days: dict[date, Decimal], aggregation: str, start: datetime, points: list[datetime]) -> list[Decimal]:
    """Return the quantity accumulated from the days' additions before each point (0 up to `start`)."""
    ordered = sorted(days.items())
    out, running, i = [], Decimal(0), 0
    for t in points:
        # NOTE: points inside the usage window are UTC midnights, so a day counts once it starts
        # before the point; a point at or before the window's start (mid-day or not) has nothing.
        while t > start and i < len(ordered) and datetime.combine(ordered[i][0], time(), UTC) < t:
            value = ordered[i][1]
            running = max(running, value) if aggregation == "max" else running + value
            i += 1
        out.append(running if t > start else Decimal(0))
    return out


def _usage_reader(tenant_id: str, period_s: Decimal) -> UsageAt:
    """Return the `usage_at` of one period's bill: plain lines from daily quantities read once per
    usage window, filtered and level lines from their own series."""

    def usage_at(lines: list[BillLine], points: list[datetime]) -> list[list[Decimal]]:
        windows: dict[tuple[datetime, datetime], dict[str, Metric]] = defaultdict(dict)
        for line in lines:
            if line.usage_start < line.usage_end and not needs_own_read(line.charge):
                c = line.charge
                windows[(line.usage_start, line.usage_end)][c.metric] = Metric(
                    code=c.metric, aggregation=c.aggregation, field=c.field
                )
        read = {
            (lo, hi): daily_quantities(tenant_id=tenant_id, metrics=list(metrics.values()), start=lo, end=hi)
            for (lo, hi), metrics in windows.items()
        }
        out = []
        for line in lines:
            lo, hi, charge = line.usage_start, line.usage_end, line.charge
            if hi <= lo:
                out.append([Decimal(0)] * len(points))
            elif needs_own_read(charge):
                series = line_series(
                    tenant_id=tenant_id,
                    start=lo,
                    end=hi,
                    charge=charge,
                    key=line.filter_key,
                    period_s=period_s,
                    edges=points,
                )
                out.append(series)
            else:
                out.append(_running(read[(lo, hi)][charge.metric], charge.aggregation, lo, points))
        return out

    return usage_at


def _subscription_daily(sub: Subscription, plans: dict, *, start: datetime, now: datetime):
    """Return ({day: usage cost added that day}, usage cost of the current period up to now).

    Each period overlapping [start, now) is billed by `period_bill` (through `bill_accrual`), and its
    lines beyond the base are re-priced at every UTC midnight: a day's cost is their increase.
    """
    history = subscription_history(sub)
    days: dict[date, Decimal] = defaultdict(Decimal)
    current = Decimal(0)
    for ps, pe in _periods_overlapping(sub, sub.plan.interval, start, now):
        window_lo, window_hi = max(ps, start), min(pe, now, sub.ended_at or pe)
        if window_hi <= window_lo:
            continue
        points = _boundaries(window_lo, window_hi)
        is_current = ps == sub.current_period_start
        # NOTE: pending one-off charges are on every bill of the subscription until invoiced; the
        # dashboard counts them once, in the current period, from the instant they were added.
        _, accrued = bill_accrual(
            subscription=sub,
            period_start=ps,
            period_end=pe,
            points=points,
            usage_at=_usage_reader(sub.tenant_id, period_seconds(ps, pe)),
            plans=plans,
            history=history,
            one_offs=is_current,
        )
        # A period's charges start from zero at its start; one that began before the window keeps
        # what it had accrued by then out of this month's days.
        previous = Decimal(0) if window_lo == ps else accrued[0]
        for k in range(1, len(points)):
            days[points[k - 1].date()] += accrued[k] - previous
            previous = accrued[k]
        if is_current:
            current = accrued[-1]
    return days, current


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
        live.filter(tenant_id__in=tenant_ids)
        .select_related("tenant", "plan")
        .prefetch_related("plan_spans", "pauses", "price_overrides", PENDING_ONE_OFFS)
    )
    plans: dict = {}  # period_bill's plan cache, shared by every subscription
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
    winner's `preview_bill` (its lines beyond the base, and its total so far).
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
                usage=bill_extras(bill),
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
