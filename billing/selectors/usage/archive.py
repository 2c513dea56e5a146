"""What the archiver reads: a month's tenants, events, rollup totals and closing invoices (all tenants).

Cross-tenant by nature, so only the archiver (a Celery task or `archive_usage`) calls these, never a
request (README "Scaling out"). A month is [start, end) in UTC; the events table's partition pruning
makes each read touch that month's partition only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Sum

from billing.models import Invoice, UsageEvent, UsageHourly
from billing.selectors.usage.export import EXPORT_FIELDS

FINALIZED = ("open", "paid", "uncollectible")


def usage_month_tenants(start: datetime, end: datetime) -> list[str]:
    """Return the tenants with raw events in [start, end)."""
    events = UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end)
    return sorted(events.order_by().values_list("tenant_id", flat=True).distinct())


def usage_month_uncovered_tenants(start: datetime, end: datetime) -> list[str]:
    """Return the tenants with an event in [start, end) that no finalized invoice's period holds."""
    covering = Invoice.objects.filter(
        tenant_id=OuterRef("tenant_id"),
        status__in=FINALIZED,
        period_start__lte=OuterRef("timestamp"),
        period_end__gt=OuterRef("timestamp"),
    )
    events = UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end).filter(~Exists(covering))
    return sorted(events.order_by().values_list("tenant_id", flat=True).distinct())


def usage_month_event_count(start: datetime, end: datetime) -> int:
    """Return how many raw events [start, end) holds (all tenants)."""
    return UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end).count()


def usage_month_events(start: datetime, end: datetime, chunk_size: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Yield every raw event in [start, end) as `usage_events_export` does, by tenant then time."""
    rows = (
        UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end)
        .order_by("tenant_id", "timestamp", "id")
        .values_list(*EXPORT_FIELDS)
    )
    yield from rows.iterator(chunk_size=chunk_size)


def usage_month_rollup_totals(start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Return {(tenant, metric): (events, sum of quantity)} over [start, end) from the hourly rollups."""
    rows = (
        UsageHourly.objects.filter(hour__gte=start, hour__lt=end)
        .order_by()
        .values_list("tenant_id", "metric_id")
        .annotate(n=Sum("event_count"), q=Sum("quantity_sum"))
    )
    return {(t, m): (int(n), Decimal(q)) for t, m, n, q in rows}


def usage_finalized_periods(tenant_ids: list[str], start: datetime, end: datetime) -> dict[str, list[tuple]]:
    """Return {tenant: [(period_start, period_end)]} of finalized invoices overlapping [start, end)."""
    periods: dict[str, list[tuple]] = {t: [] for t in tenant_ids}
    rows = Invoice.objects.filter(
        tenant_id__in=tenant_ids, status__in=FINALIZED, period_start__lt=end, period_end__gt=start
    ).values_list("tenant_id", "period_start", "period_end")
    for tenant_id, lo, hi in rows:
        periods[tenant_id].append((lo, hi))
    return periods
