"""Read invoices, and work out which subscription periods have ended and still need one.

A subscription's periods are anchored on `started_at` (contract section 5); an immediate cancel cuts
the last one at `ended_at`. `invoiced_through` is the start of the first period not yet invoiced by
the invoice run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Q, QuerySet

from billing.models import Invoice, Subscription
from billing.pricing import period_containing, period_index, period_start_n


@dataclass(frozen=True)
class BillingPeriod:
    """A period to invoice: [start, end), inside the natural period [natural_start, natural_end).

    `end` < `natural_end` only for the cut period of an immediate cancel.
    """

    start: datetime
    end: datetime
    natural_start: datetime
    natural_end: datetime

    @property
    def is_cut(self) -> bool:
        return self.end < self.natural_end


def invoice_list(*, tenant_id: str) -> QuerySet[Invoice]:
    """Return the tenant's invoices, newest period first, with their lines prefetched."""
    return (
        Invoice.objects.filter(tenant_id=tenant_id)
        .prefetch_related("lines")
        .order_by("-period_start", "-created_at", "-id")
    )


def invoice_queryset() -> QuerySet[Invoice]:
    """Return all invoices with their lines prefetched (scope it to the caller before use)."""
    return Invoice.objects.prefetch_related("lines")


def invoice_live_for_period(*, subscription_id, period_start: datetime) -> Invoice | None:
    """Return the subscription's non-void invoice for the period starting at `period_start`, if any."""
    return (
        Invoice.objects.filter(subscription_id=subscription_id, period_start=period_start)
        .exclude(status=Invoice.Status.VOID)
        .first()
    )


def subscription_period_at(*, subscription: Subscription, at: datetime, interval: str | None = None) -> BillingPeriod:
    """Return the subscription's billing period that contains `at` (cut at `ended_at` when it falls inside)."""
    interval = interval or subscription.plan.interval
    start, end = period_containing(subscription.started_at, interval, max(at, subscription.started_at))
    cut = end
    if subscription.ended_at is not None and start < subscription.ended_at < end:
        cut = subscription.ended_at
    return BillingPeriod(start=start, end=cut, natural_start=start, natural_end=end)


def subscription_period_matching(
    *, subscription: Subscription, period_start: datetime, period_end: datetime | None
) -> BillingPeriod | None:
    """Return the subscription's period [period_start, period_end), or None when it is not one of them.

    Without `period_end` the period starting at `period_start` is meant. Valid periods start on a
    period boundary at or after `started_at` and end at the next boundary, or at `ended_at` for the
    cut period of an immediate cancel; nothing after `ended_at` is a period.
    """
    if period_start < subscription.started_at:
        return None
    if subscription.ended_at is not None and period_start >= subscription.ended_at:
        return None
    period = subscription_period_at(subscription=subscription, at=period_start)
    if period.start != period_start:
        return None
    if period_end is None or period_end == period.end:
        return period
    return None


def subscription_ended_periods(*, subscription: Subscription, now: datetime) -> list[BillingPeriod]:
    """Return the subscription's periods that have ended by `now`, most recent first."""
    interval = subscription.plan.interval
    anchor = subscription.started_at
    bound = now if subscription.ended_at is None else min(now, subscription.ended_at)
    if bound <= anchor:
        return []
    periods: list[BillingPeriod] = []
    n = period_index(anchor, interval, bound)
    current_start = period_start_n(anchor, interval, n)
    current_end = period_start_n(anchor, interval, n + 1)
    ended_at = subscription.ended_at
    if ended_at is not None and current_start < ended_at <= now and ended_at == bound and ended_at < current_end:
        periods.append(BillingPeriod(current_start, ended_at, current_start, current_end))
    for k in range(n - 1, -1, -1):
        start, end = period_start_n(anchor, interval, k), period_start_n(anchor, interval, k + 1)
        periods.append(BillingPeriod(start, end, start, end))
    return periods


def subscription_next_period(*, subscription: Subscription, interval: str | None = None) -> BillingPeriod | None:
    """Return the first period the invoice run has not invoiced yet, or None when nothing is left.

    It starts at `invoiced_through`; for an ended subscription it stops at `ended_at`.
    """
    start = subscription.invoiced_through
    if subscription.ended_at is not None and subscription.ended_at <= start:
        return None
    interval = interval or subscription.plan.interval
    natural_start, natural_end = period_containing(
        subscription.started_at, interval, max(start, subscription.started_at)
    )
    end = natural_end
    if subscription.ended_at is not None and subscription.ended_at < end:
        end = subscription.ended_at
    return BillingPeriod(start=start, end=end, natural_start=natural_start, natural_end=natural_end)


def subscriptions_due_for_invoicing(*, at: datetime) -> list:
    """Return the ids of subscriptions with a period that ended by `at` and is not invoiced yet.

    That is `invoiced_through` < the next period end ≤ `at`, where an ended subscription's last
    period ends at `ended_at`. The SQL narrows the candidates; the month arithmetic is done here.
    """
    rows = (
        Subscription.objects.filter(invoiced_through__lt=at)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=F("invoiced_through")))
        .order_by("id")
        .values_list("id", "started_at", "invoiced_through", "ended_at", "plan__interval")
    )
    due = []
    for sub_id, started_at, invoiced_through, ended_at, interval in rows:
        _, end = period_containing(started_at, interval, max(invoiced_through, started_at))
        if ended_at is not None and ended_at < end:
            end = ended_at
        if end <= at:
            due.append(sub_id)
    return due


def invoice_drafts_due(*, at: datetime, grace: timedelta) -> list:
    """Return the ids of drafts whose period ended more than `grace` before `at`, oldest first."""
    return list(
        Invoice.objects.filter(status=Invoice.Status.DRAFT, period_end__lte=at - grace)
        .order_by("period_end", "id")
        .values_list("id", flat=True)
    )
