"""Usage of a subscription's segments answerable as "quantity up to instant t", for day-by-day pricing
(the finance dashboard): hourly rollups read once per subscription, raw events only at the edges."""

from __future__ import annotations

import bisect
from datetime import datetime
from decimal import Decimal

from django.db.models import Min, Q, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform

from billing.models import UsageEvent, UsageHourly
from billing.selectors.usage.windows import HOUR, split_edges


class UsageAccumulator:
    """Usage of one metric over a segment, answerable as "quantity up to instant t" without queries.

    Items are (instant by which they are complete, sum, max, count): an hourly rollup row is complete
    at its hour's end, a raw edge event at its own timestamp (counted when strictly before t).
    """

    def __init__(self, aggregation: str):
        self.aggregation = aggregation
        self.items: list[tuple[datetime, bool, Decimal, Decimal, int]] = []
        self.firsts: list[datetime] = []  # unique_count: when each distinct value first appeared

    def quantities_at(self, instants: list[datetime]) -> list[Decimal]:
        """Return the aggregated quantity over the segment's usage before each of ``instants`` (sorted)."""
        if self.aggregation == "unique_count":
            firsts = sorted(self.firsts)
            return [Decimal(bisect.bisect_left(firsts, t)) for t in instants]
        items = sorted(self.items, key=lambda i: i[0])
        out, i, total, biggest, count = [], 0, Decimal(0), Decimal(0), 0
        for t in instants:
            while i < len(items):
                at, raw, s, mx, n = items[i]
                if at < t or (not raw and at == t):
                    total, biggest, count = total + s, max(biggest, mx), count + n
                    i += 1
                else:
                    break
            out.append({"sum": total, "max": biggest, "count": Decimal(count)}[self.aggregation])
        return out


def usage_hourly_rows(*, tenant_id: str, codes, lo: datetime, hi: datetime) -> list[tuple]:
    """Return (metric, hour, sum, max, count) rollup rows of the whole hours inside [lo, hi)."""
    whole_start, whole_end, _ = split_edges(lo, hi)
    return list(
        UsageHourly.objects.filter(
            tenant_id=tenant_id, metric_id__in=codes, hour__gte=whole_start, hour__lt=whole_end
        ).values_list("metric_id", "hour", "quantity_sum", "quantity_max", "event_count")
    )


def usage_segment(
    *, tenant_id: str, segment, metrics: dict[str, str], hourly: list[tuple]
) -> dict[str, UsageAccumulator]:
    """Return {metric: UsageAccumulator} of the segment's usage window from preloaded hourly rows + edge events.

    `metrics` is {code: aggregation}; a unique_count accumulator gets its `firsts` from the caller.
    """
    start, end = segment.usage_start, segment.usage_end
    acc = {code: UsageAccumulator(agg) for code, agg in metrics.items()}
    if end <= start:
        return acc
    whole_start, whole_end, edges = split_edges(start, end)
    for metric_id, hour, s, mx, n in hourly:
        if metric_id in acc and whole_start <= hour < whole_end:
            acc[metric_id].items.append((hour + HOUR, False, s, mx, n))
    plain = [c for c, agg in metrics.items() if agg != "unique_count"]
    if plain and edges:
        edge_q = Q()
        for lo, hi in edges:
            edge_q |= Q(timestamp__gte=lo, timestamp__lt=hi)
        rows = UsageEvent.objects.filter(edge_q, tenant_id=tenant_id, metric_id__in=plain).values_list(
            "metric_id", "timestamp", "quantity"
        )
        for metric_id, ts, q in rows:
            acc[metric_id].items.append((ts, True, q, q, 1))
    return acc


def usage_unique_firsts(*, tenant_id: str, segment, metric_id: str, field_name: str) -> list[datetime]:
    """Return when each distinct value of a unique_count metric first appeared in the segment."""
    return list(
        UsageEvent.objects.filter(
            tenant_id=tenant_id,
            metric_id=metric_id,
            timestamp__gte=segment.usage_start,
            timestamp__lt=segment.usage_end,
        )
        .annotate(value=KeyTextTransform(field_name, "properties"))
        .values("value")
        .annotate(first=Min("timestamp"))
        .values_list("first", flat=True)
    )


def usage_busiest_tenants(*, tenant_ids: QuerySet, start: datetime, end: datetime) -> QuerySet:
    """Return [{tenant_id, n}] of `tenant_ids` with events in [start, end), by events recorded (most first)."""
    return (
        UsageHourly.objects.filter(hour__gte=start, hour__lt=end, tenant_id__in=tenant_ids)
        .values("tenant_id")
        .annotate(n=Sum("event_count"))
        .order_by("-n", "tenant_id")
    )
