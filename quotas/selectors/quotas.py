"""Reads of the quotas app: the window a quota measures and how much of it is used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet

from billing.models import Subscription
from billing.pricing import add_months, period_containing
from billing.selectors.usage import usage_by_metric
from quotas.models import Quota

PERCENT_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class QuotaCheck:
    """A quota measured over the window containing an instant."""

    quota: Quota
    used: Decimal
    remaining: Decimal
    utilization_percent: Decimal
    status: str
    period_start: datetime
    period_end: datetime


def live_subscription(*, tenant_id: str) -> Subscription | None:
    """Return the tenant's subscription that is not canceled, with its plan (None without one)."""
    return Subscription.objects.select_related("plan").exclude(status="canceled").filter(tenant_id=tenant_id).first()


def calendar_month(at: datetime) -> tuple[datetime, datetime]:
    """Return the UTC calendar month [start, end) containing `at`."""
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, add_months(start, 1)


def quota_window(*, period: str, at: datetime, subscription: Subscription | None) -> tuple[datetime, datetime]:
    """Return the half-open window of a quota `period` containing `at`.

    `day` and `month` are UTC calendar windows; `billing_period` is the live subscription's period
    containing `at`, or the calendar month without a subscription (or before it started).
    """
    if period == Quota.Period.DAY:
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if period == Quota.Period.BILLING_PERIOD and subscription is not None and at >= subscription.started_at:
        return period_containing(subscription.started_at, subscription.plan.interval, at)
    return calendar_month(at)


def quota_status(*, limit: Decimal, used: Decimal, warn_at_percent: Decimal) -> str:
    """Return `exceeded` when used ≥ limit, `warning` when used ≥ limit × warn % / 100, else `ok`."""
    if used >= limit:
        return "exceeded"
    if used * 100 >= limit * warn_at_percent:
        return "warning"
    return "ok"


def quota_list(*, tenant_id: str) -> QuerySet:
    """Return the tenant's quotas."""
    return Quota.objects.filter(tenant_id=tenant_id).select_related("metric").order_by("metric_id", "created_at", "id")


def quota_checks(*, tenant_id: str, now: datetime, metric: str | None = None) -> list[QuotaCheck]:
    """Return every quota of the tenant (or of one metric) measured over its window containing `now`."""
    quotas = list(quota_list(tenant_id=tenant_id).filter(**({"metric_id": metric} if metric else {})))
    subscription = (
        live_subscription(tenant_id=tenant_id) if any(q.period == Quota.Period.BILLING_PERIOD for q in quotas) else None
    )
    usage_cache: dict[tuple, dict] = {}
    checks = []
    for quota in quotas:
        start, end = quota_window(period=quota.period, at=now, subscription=subscription)
        key = (start, end)
        if key not in usage_cache:
            metrics = {q.metric_id: q.metric for q in quotas}
            usage_cache[key] = usage_by_metric(
                tenant_id=tenant_id, start=start, end=end, metrics=list(metrics.values())
            )
        used = usage_cache[key][quota.metric_id].quantity
        limit = quota.limit
        # A zero limit (possible from the admin) is fully used from the start.
        percent = (used * 100 / limit if limit else Decimal(100)).quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)
        checks.append(
            QuotaCheck(
                quota=quota,
                used=used,
                remaining=max(limit - used, Decimal(0)),
                utilization_percent=percent,
                status=quota_status(limit=limit, used=used, warn_at_percent=quota.warn_at_percent),
                period_start=start,
                period_end=end,
            )
        )
    return checks


def quota_exists_sql(*, tenant_param: str) -> str:
    """Return an SQL boolean expression: whether the tenant bound to `tenant_param` has any quota.

    Read in the ingest's context query: only a tenant with quotas pays for recording their
    quota.warning / quota.exceeded crossings.
    """
    return f"EXISTS (SELECT 1 FROM {Quota._meta.db_table} WHERE tenant_id = {tenant_param})"


def quota_hard_exists_sql(*, tenant_param: str) -> str:
    """Return an SQL boolean expression: whether the tenant bound to `tenant_param` has a hard quota.

    The usage ingest reads this flag inside its one context query (no round trip of its own): only a
    tenant with a hard quota pays for the enforcement step.
    """
    return f"EXISTS (SELECT 1 FROM {Quota._meta.db_table} WHERE tenant_id = {tenant_param} AND enforcement = 'hard')"
