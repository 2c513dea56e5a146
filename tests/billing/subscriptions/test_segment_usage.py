"""segment_usage reads [start, next hour) minus [end, next hour) and must equal the direct, exact read."""

from datetime import timedelta

import pytest

from billing.models import Metric
from billing.selectors.calculation import segment_usage
from billing.selectors.usage import usage_by_metric

from .conftest import utc

pytestmark = pytest.mark.django_db

H = utc(2026, 3, 10, 14)


@pytest.mark.parametrize(
    "storage_after, users_after",
    [
        (None, None),  # nothing after `end`: the rollup figures stand
        (3, None),  # a smaller max after `end`: the max before it stands
        (50, "dan"),  # a larger max and a new user after `end`: read directly
    ],
)
def test_equals_the_direct_read(catalog, clock, record, storage_after, users_after):
    clock.set(H + timedelta(minutes=58))
    record("acme", "api_calls", 100, H - timedelta(hours=5))
    record("acme", "api_calls", 7, H + timedelta(minutes=10))
    record("acme", "jobs", 1, H + timedelta(minutes=12))
    record("acme", "storage_gb", 9, H + timedelta(minutes=15))
    record("acme", "active_users", 1, H + timedelta(minutes=20), properties={"user_id": "ann"})
    record("acme", "active_users", 1, H - timedelta(hours=2), properties={"user_id": "bob"})
    # after `end` (H+40m), still within the hour
    record("acme", "api_calls", 1000, H + timedelta(minutes=45))
    record("acme", "jobs", 1, H + timedelta(minutes=46))
    if storage_after is not None:
        record("acme", "storage_gb", storage_after, H + timedelta(minutes=47))
    if users_after is not None:
        record("acme", "active_users", 1, H + timedelta(minutes=48), properties={"user_id": users_after})
    metrics = list(Metric.objects.all())
    start, end = H - timedelta(hours=6, minutes=30), H + timedelta(minutes=40)
    got = segment_usage(tenant_id="acme", start=start, end=end, metrics=metrics)
    want = usage_by_metric(tenant_id="acme", start=start, end=end, metrics=metrics)
    assert got == want
    assert (
        got["api_calls"].quantity,
        got["jobs"].quantity,
        got["storage_gb"].quantity,
        got["active_users"].quantity,
    ) == (107, 1, 9, 2)
