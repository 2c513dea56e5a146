"""Raw usage events of one tenant over [start, end), streamed (export_usage, for finance and FinOps).

Rows come from a server-side cursor in chunks, so an export of millions of events holds one chunk in
memory; the order (timestamp, id) makes an export reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from billing.models import UsageEvent

EXPORT_FIELDS = (
    "event_id",
    "tenant_id",
    "metric_id",
    "quantity",
    "timestamp",
    "resource_id",
    "cost_center",
    "properties",
)


def usage_events_export(
    tenant_id: str, start: datetime, end: datetime, chunk_size: int = 2000
) -> Iterator[tuple[Any, ...]]:
    """Yield (event_id, tenant_id, metric, quantity, timestamp, resource_id, cost_center, properties)
    of the tenant's events with start <= timestamp < end, oldest first."""
    rows = (
        UsageEvent.objects.filter(tenant_id=tenant_id, timestamp__gte=start, timestamp__lt=end)
        .order_by("timestamp", "id")
        .values_list(*EXPORT_FIELDS)
    )
    yield from rows.iterator(chunk_size=chunk_size)


def usage_events_export_count(tenant_id: str, start: datetime, end: datetime) -> int:
    """Return how many events `usage_events_export` yields (for a progress display)."""
    return UsageEvent.objects.filter(tenant_id=tenant_id, timestamp__gte=start, timestamp__lt=end).count()
