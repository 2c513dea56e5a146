"""`daily_quantities` (the dashboard's usage per UTC day): running totals over its days equal the window's
usage read directly, at every midnight and at the window's end, for every aggregation."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Metric
from billing.selectors.usage import daily_quantities, usage_by_metric
from billing.services.usage import usage_ingest

from .conftest import iso

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 30, tzinfo=UTC)
HOUR_US = 3_600 * 10**6
tenants = itertools.count()
METRICS = ["api_calls", "storage_gb", "jobs", "active_users"]  # sum, max, count, unique_count


def running(days: dict, aggregation: str, t: datetime) -> Decimal:
    total = Decimal(0)
    for day, value in days.items():
        if datetime.combine(day, time(), UTC) < t:
            total = max(total, value) if aggregation == "max" else total + value
    return total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.tuples(st.integers(0, 96 * HOUR_US - 1), st.sampled_from(METRICS), st.integers(1, 50), st.integers(0, 5)),
        max_size=30,
    ),
    a=st.integers(0, 96 * HOUR_US),
    b=st.integers(0, 96 * HOUR_US),
)
def test_running_days_equal_the_window_read_directly(catalog, events, a, b):
    tenant_id = f"dq{next(tenants)}"
    docs = [
        {
            "event_id": f"e{i}",
            "metric": metric,
            "quantity": quantity,
            "timestamp": iso(T0 + timedelta(microseconds=us)),
            "properties": {"user_id": f"u{user}"},
        }
        for i, (us, metric, quantity, user) in enumerate(events)
    ]
    if docs:
        usage_ingest(tenant_id=tenant_id, events=docs, now=T0 + timedelta(days=10))
    start, end = sorted((T0 + timedelta(microseconds=a), T0 + timedelta(microseconds=b)))
    if start == end:
        end += timedelta(microseconds=1)
    metrics = list(Metric.objects.filter(code__in=METRICS))
    days = daily_quantities(tenant_id=tenant_id, metrics=metrics, start=start, end=end)
    midnights = [T0 + timedelta(days=d) for d in range(5) if start < T0 + timedelta(days=d) < end]
    for t in [*midnights, end]:
        direct = usage_by_metric(tenant_id=tenant_id, start=start, end=t, metrics=metrics)
        for m in metrics:
            assert running(days[m.code], m.aggregation, t) == direct[m.code].quantity, (m.code, t)
