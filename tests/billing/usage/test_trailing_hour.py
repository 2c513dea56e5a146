"""A window's trailing partial hour is read from the hour's rollup row when no event of that metric is
stamped later in the hour, and from raw events otherwise: either way the totals equal raw events."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing.selectors.usage import usage_by_metric
from billing.services.usage import usage_ingest

METRICS = ("api_calls", "storage_gb", "jobs")
HOUR_START = datetime(2026, 3, 10, 14, tzinfo=UTC)


def _events(offsets_by_metric):
    events = []
    for metric, offsets in offsets_by_metric.items():
        for k, (minutes, quantity) in enumerate(offsets):
            events.append(
                {
                    "event_id": f"{metric}-{k}",
                    "metric": metric,
                    "quantity": str(quantity),
                    "timestamp": (HOUR_START + timedelta(minutes=minutes)).isoformat(),
                }
            )
    return events


def _expected(events, start, end):
    out = {}
    for metric in METRICS:
        rows = [
            Decimal(e["quantity"])
            for e in events
            if e["metric"] == metric and start <= datetime.fromisoformat(e["timestamp"]) < end
        ]
        out[metric] = (
            {"api_calls": sum(rows, Decimal(0)), "storage_gb": max(rows, default=Decimal(0))}.get(
                metric, Decimal(len(rows))
            ),
            len(rows),
        )
    return out


def _read(start, end):
    got = usage_by_metric(tenant_id="acme", start=start, end=end)
    return {m: (got[m].quantity, got[m].events) for m in METRICS}


@pytest.mark.django_db
def test_trailing_hour_mixes_rollup_and_raw_per_metric(catalog, tenant):
    # api_calls has an event after the cut (raw read); storage_gb and jobs have none (rollup read).
    events = _events(
        {
            "api_calls": [(1, 5), (20, 7), (40, 11)],
            "storage_gb": [(2, 30), (25, 80)],
            "jobs": [(3, 1), (4, 1), (29, 1)],
        }
    )
    usage_ingest(tenant_id="acme", events=events, now=HOUR_START + timedelta(hours=2))
    for start in (HOUR_START - timedelta(hours=3), HOUR_START - timedelta(minutes=17), HOUR_START):
        for cut in (0, 1, 20, 30, 45, 59):
            end = HOUR_START + timedelta(minutes=cut)
            if end <= start:
                continue
            assert _read(start, end) == _expected(events, start, end), (start, end)


@pytest.mark.django_db
def test_trailing_hour_without_later_events_reads_the_rollup_not_the_events(catalog, tenant):
    events = _events({"api_calls": [(1, 5), (20, 7)], "jobs": [(3, 1)]})
    usage_ingest(tenant_id="acme", events=events, now=HOUR_START + timedelta(hours=2))
    end = HOUR_START + timedelta(minutes=30)
    # Proof that the rollup answered: the raw rows are gone but the window still counts them.
    with connection.cursor() as cur:
        cur.execute("DELETE FROM billing_usageevent WHERE tenant_id = 'acme' AND \"timestamp\" < %s", [end])
    assert _read(HOUR_START - timedelta(days=1), end) == _expected(events, HOUR_START - timedelta(days=1), end)
    # A later event in the hour sends that metric (only) back to the raw rows, deleted here: zero.
    late = {"event_id": "jobs-late", "metric": "jobs", "timestamp": (HOUR_START + timedelta(minutes=50)).isoformat()}
    usage_ingest(tenant_id="acme", events=[late], now=HOUR_START + timedelta(hours=2))
    got = _read(HOUR_START - timedelta(days=1), end)
    assert got["jobs"] == (Decimal(0), 0)
    assert got["api_calls"] == (Decimal(12), 2)
