"""The level rollup (`UsageLevel`) always equals a fold of the raw readings, whatever their order."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Metric, UsageLevel
from billing.services.usage import usage_record
from billing.services.usage_levels import usage_levels_rebuild
from billing.services.usage_sql import ingest_sql as _ingest_sql

from .conftest import at
from .test_rollups import _fire_concurrently, cost_centers  # noqa: F401 (fixture)

HOUR = timedelta(hours=1)


@pytest.fixture
def levels(catalog):
    """The demo catalog (storage_gb_month is a weighted_sum metric) plus a `latest` one."""
    Metric.objects.create(code="disk_gb", name="Disk", unit="GB", aggregation="latest")


def expected_rows(tenant_id: str, metrics=("storage_gb_month", "disk_gb")) -> list[tuple]:
    """Return UsageLevel's rows recomputed in Python from the raw events (ordered by time, then arrival)."""
    with connection.cursor() as cur:
        cur.execute(
            'SELECT id, metric_id, quantity, "timestamp", resource_id, cost_center FROM billing_usageevent '
            'WHERE tenant_id = %s AND metric_id = ANY(%s) ORDER BY "timestamp", id',
            [tenant_id, list(metrics)],
        )
        events = cur.fetchall()
    by_hour: dict[tuple, list] = {}
    for pk, metric, quantity, ts, resource, cc in events:
        hour = ts.replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault((metric, hour, resource), []).append((pk, quantity, ts, cc))
    rows = {}
    for (metric, hour, resource), readings in by_hour.items():
        for i, (pk, quantity, ts, cc) in enumerate(readings):
            until = readings[i + 1][2] if i + 1 < len(readings) else hour + HOUR
            piece = quantity * Decimal((until - ts) // timedelta(microseconds=1)) / Decimal(10**6)
            row = rows.setdefault((metric, hour, resource, cc), [ts, ts, pk, quantity, Decimal(0), 0])
            row[1:4] = [ts, pk, quantity]
            row[4] += piece
            row[5] += 1
    per_hour: dict[tuple, list] = {}  # (metric, hour, resource) -> [first, Σ integral, end row's cost center]
    for (metric, hour, resource), readings in by_hour.items():
        total = sum((v[4] for k, v in rows.items() if k[:3] == (metric, hour, resource)), Decimal(0))
        per_hour[(metric, hour, resource)] = [readings[0][2], total, readings[-1][3]]
    cums: dict[tuple, Decimal] = {}  # (metric, hour, resource) -> ∫ level dt from the first reading to the hour's end
    held: dict[tuple, tuple] = {}  # (metric, resource) -> (cum, level, hour) of its previous hour
    for metric, hour, resource in sorted(per_hour, key=lambda k: (k[0], k[2], k[1])):
        first, total, _ = per_hour[(metric, hour, resource)]
        cum, level, prev = held.get((metric, resource), (Decimal(0), Decimal(0), None))
        if prev is not None:
            cum += level * Decimal((first - prev - HOUR) // timedelta(microseconds=1)).scaleb(-6)
        cums[(metric, hour, resource)] = cum + total
        held[(metric, resource)] = (cum + total, by_hour[(metric, hour, resource)][-1][1], hour)
    out = []
    for key, values in rows.items():
        end = per_hour[key[:3]][2] == key[3]
        out.append((*key, *values, *per_hour[key[:3]][:2], end, cums[key[:3]] if end else None))
    return sorted(out)


def stored_rows(tenant_id: str) -> list[tuple]:
    return sorted(
        UsageLevel.objects.filter(tenant_id=tenant_id).values_list(
            "metric_id", "hour", "resource_id", "cost_center", "first_at", "last_at", "last_event",
            "last_quantity", "integral", "event_count", "hour_first_at", "hour_integral", "end_of_hour",
            "cum_integral",
        )
    )  # fmt: skip


def readings(rng, start, n, prefix):
    """Return `n` level readings (and a few plain events) at random, out-of-order instants of 6 hours."""
    out = []
    for i in range(n):
        metric = rng.choice(["storage_gb_month", "storage_gb_month", "disk_gb", "api_calls"])
        ev = {
            "event_id": f"{prefix}{i}",
            "metric": metric,
            "quantity": str(Decimal(rng.randrange(0, 10**5)) / Decimal(10 ** rng.randrange(0, 7))),
            # whole seconds collide now and then: ties are ordered by arrival
            "timestamp": at(start, seconds=rng.randrange(6 * 3600) // rng.choice([1, 600])),
        }
        if rng.random() < 0.8:
            ev["resource_id"] = f"b{rng.randrange(4)}"
        if rng.random() < 0.3:
            ev["cost_center"] = rng.choice(["eng", "ops"])
        out.append(ev)
    return out


@pytest.mark.django_db
def test_rollup_equals_a_fold_of_raw_readings_sent_out_of_order(levels, cost_centers, post_batch, month_start):
    rng = random.Random(5)
    for b in range(5):
        r = post_batch("acme", readings(rng, month_start, 120, f"b{b}-"))
        assert r.status_code == 200, r.content
    for ev in readings(rng, month_start, 30, "one-"):  # the single-event statement folds them too
        usage_record(tenant_id="acme", event=ev)
    want = expected_rows("acme")
    assert len(want) > 40 and any(row[9] > 1 for row in want) and not all(row[-2] for row in want)
    assert stored_rows("acme") == want
    # plain metrics have no level rows; the backfill/rebuild gives exactly the same rows
    assert not UsageLevel.objects.filter(metric_id="api_calls").exists()
    UsageLevel.objects.filter(tenant_id="acme").update(integral=0)
    assert usage_levels_rebuild(tenant_id="acme") == len(want)
    assert stored_rows("acme") == want


def test_batches_without_level_metrics_carry_no_level_statement():
    assert "lvl_touched" not in _ingest_sql("stage s", returning_events=False)
    assert "lvl_touched" in _ingest_sql("stage s", returning_events=False, levels=True)


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_into_the_same_hours_fold_every_reading(levels, cost_centers, month_start):
    rng = random.Random(9)
    pool = readings(rng, month_start, 600, "c")
    bodies = [pool[i::4] for i in range(4)]
    answers = _fire_concurrently(bodies)
    assert all(status == 200 for status, _ in answers), answers
    assert stored_rows("acme") == expected_rows("acme")


@pytest.mark.django_db
def test_a_metric_that_becomes_a_level_metric_has_its_events_folded(levels, cost_centers, post_batch, month_start):
    from billing.services.catalog import catalog_load

    Metric.objects.create(code="gauge", name="Gauge", unit="GB", aggregation="sum")
    events = readings(random.Random(2), month_start, 60, "g")
    for ev in events:
        ev["metric"] = "gauge"
    assert post_batch("acme", events).status_code == 200
    assert not UsageLevel.objects.filter(metric_id="gauge").exists()
    catalog_load(data={"metrics": [{"code": "gauge", "name": "Gauge", "aggregation": "weighted_sum"}], "plans": []})
    assert [row for row in stored_rows("acme") if row[0] == "gauge"] == [
        row for row in expected_rows("acme", ("gauge",)) if row[0] == "gauge"
    ]
