"""Real-time cost: current (the preview's numbers), by resource (exact allocation), and the timeline."""

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone

from realtime.selectors.cost import realtime_by_dimension, realtime_timeline
from tests.realtime.helpers import BASE, ingest, subscribe

pytestmark = pytest.mark.django_db
UTC = UTC


def url(tenant_id, what):
    return f"{BASE}/realtime-cost/tenants/{tenant_id}/{what}"


@pytest.fixture
def acme_sub(tenant, catalog):
    """acme on "starter" (api_calls 0.0005 after 5000 free) for the last 3 days."""
    return subscribe("acme", "starter", started_at=timezone.now() - timedelta(days=3))


def test_no_live_subscription_is_404_no_subscription(api, tenant, catalog):
    acme = api("tenant", "acme")
    for what in ("current", "by-resource", "timeline"):
        r = acme.get(url("acme", what))
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "no_subscription", what


def test_roles_and_tenants(api, service, acme_sub, other_tenant):
    for what in ("current", "by-resource", "timeline", "alerts"):
        assert api("tenant", "globex").get(url("acme", what)).status_code == 403
        assert service.get(url("acme", what)).status_code == 403
    assert api("tenant", "acme").get(url("acme", "current")).status_code == 200


def test_current_has_the_previews_numbers(api, finance, acme_sub):
    from billing.models import Discount

    Discount.objects.create(subscription=acme_sub, percent_off=Decimal("10"), duration="forever")
    ingest(
        "acme",
        [
            {"metric": "api_calls", "quantity": "9000", "timestamp": timezone.now() - timedelta(hours=30)},
            {"metric": "api_calls", "quantity": "3000", "timestamp": timezone.now() - timedelta(minutes=3)},
            {"metric": "jobs", "timestamp": timezone.now() - timedelta(hours=2)},
        ],
    )
    acme = api("tenant", "acme")
    current = acme.get(url("acme", "current")).json()
    preview = acme.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert set(current) == {
        "tenant_id",
        "currency",
        "period_start",
        "period_end",
        "as_of",
        "base",
        "usage",
        "discount",
        "total",
        "by_metric",
    }
    assert (current["tenant_id"], current["currency"]) == ("acme", "USD")
    assert (current["period_start"], current["period_end"]) == (preview["period_start"], preview["period_end"])
    base = sum(Decimal(line["amount"]) for line in preview["lines"] if line["type"] == "base")
    usage = sum(Decimal(line["amount"]) for line in preview["lines"] if line["type"] == "usage")
    assert Decimal(current["base"]) == base and Decimal(current["usage"]) == usage
    # 12000 calls - 5000 free = 7000 × 0.0005 = 3.50; one job = one package of 100 = 1.50.
    assert current["usage"] == "5.00"
    assert current["discount"] == preview["discount"] and current["total"] == preview["total"]
    subtotal = Decimal(current["base"]) + Decimal(current["usage"])
    assert Decimal(current["discount"]) == (subtotal / 10).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(current["total"]) == subtotal - Decimal(current["discount"])
    by_metric = {m["metric"]: m for m in current["by_metric"]}
    assert by_metric["api_calls"] == {"metric": "api_calls", "quantity": "12000", "amount": "3.50"}
    assert by_metric["jobs"] == {"metric": "jobs", "quantity": "1", "amount": "1.50"}
    assert by_metric["storage_gb"]["amount"] == "0.00"
    assert current["as_of"] >= preview["period_start"]


def test_by_resource_splits_each_charge_exactly(api, acme_sub):
    at = timezone.now() - timedelta(hours=5)
    ingest(
        "acme",
        [
            {"metric": "api_calls", "quantity": "4000", "resource_id": "vm-1", "timestamp": at},
            {"metric": "api_calls", "quantity": "4000", "resource_id": "vm-2", "timestamp": at},
            {"metric": "api_calls", "quantity": "4000", "timestamp": at},
            {"metric": "jobs", "resource_id": "vm-1", "timestamp": at},
            {"metric": "jobs", "resource_id": "vm-2", "timestamp": at},
        ],
    )
    body = api("tenant", "acme").get(url("acme", "by-resource")).json()
    rows = {(r["resource_id"], r["metric"]): r for r in body["results"]}
    # 12000 - 5000 free = 7000 × 0.0005 = 3.50 split in thirds: 1.17 + 1.17 + 1.16.
    calls = [rows[(k, "api_calls")] for k in (None, "vm-1", "vm-2")]
    assert [c["quantity"] for c in calls] == ["4000", "4000", "4000"]
    assert sorted(c["amount"] for c in calls) == ["1.16", "1.17", "1.17"]
    assert sum(Decimal(c["amount"]) for c in calls) == Decimal("3.50")
    # One package of jobs (1.50) split between two VMs with one job each.
    assert rows[("vm-1", "jobs")]["amount"] == "0.75" and rows[("vm-2", "jobs")]["amount"] == "0.75"
    current = api("tenant", "acme").get(url("acme", "current")).json()
    assert sum(Decimal(r["amount"]) for r in body["results"]) == Decimal(current["usage"])


def test_by_resource_and_cost_center_at_partial_hour_edges(tenant, catalog):
    """Windows that start and end mid-hour count only the events inside them."""
    started = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    now = datetime(2026, 3, 2, 15, 45, tzinfo=UTC)
    sub = subscribe("acme", "starter", started_at=started, now=now)
    ingest(
        "acme",
        [
            {
                "metric": "api_calls",
                "quantity": "1000000",
                "resource_id": "before",
                "timestamp": started - timedelta(minutes=1),
            },
            {"metric": "api_calls", "quantity": "6000", "resource_id": "a", "cost_center": "", "timestamp": started},
            {"metric": "api_calls", "quantity": "2000", "resource_id": "b", "timestamp": now - timedelta(minutes=10)},
            {"metric": "api_calls", "quantity": "1000000", "resource_id": "after", "timestamp": now},
        ],
    )
    parts = realtime_by_dimension(subscription=sub, now=now, dimension="resource_id")
    calls = {p.key: (p.quantity, p.amount) for p in parts if p.metric == "api_calls"}
    # 8000 - 5000 = 3000 × 0.0005 = 1.50, split 6000 : 2000.
    # 1.125 and 0.375: the leftover cent goes to the later of two equal remainders.
    assert calls == {"a": (Decimal(6000), Decimal("1.12")), "b": (Decimal(2000), Decimal("0.38"))}
    assert sum(a for _, a in calls.values()) == Decimal("1.50")


def test_timeline_prices_cumulative_usage_with_tiers(tenant, catalog):
    """pro: the first 10,000 calls are free, then 0.0004 each (graduated)."""
    started = datetime(2026, 3, 1, tzinfo=UTC)
    now = datetime(2026, 3, 3, 12, 30, tzinfo=UTC)
    sub = subscribe("acme", "pro", started_at=started, now=now)
    ingest(
        "acme",
        [
            {"metric": "api_calls", "quantity": "8000", "timestamp": datetime(2026, 3, 1, 10, 5, tzinfo=UTC)},
            {"metric": "api_calls", "quantity": "4000", "timestamp": datetime(2026, 3, 2, 9, 0, tzinfo=UTC)},
            {"metric": "api_calls", "quantity": "1000", "timestamp": datetime(2026, 3, 3, 12, 10, tzinfo=UTC)},
            {"metric": "api_calls", "quantity": "99999", "timestamp": datetime(2026, 3, 3, 12, 31, tzinfo=UTC)},
            {"metric": "jobs", "quantity": "1", "timestamp": datetime(2026, 3, 2, 23, 59, tzinfo=UTC)},
        ],
    )
    days = realtime_timeline(subscription=sub, now=now, granularity="day")
    assert [(b.bucket.day, b.amount, b.cumulative_amount) for b in days] == [
        (1, Decimal("0.00"), Decimal("0.00")),  # 8000 calls: all in the free tier
        (2, Decimal("1.80"), Decimal("1.80")),  # 12000 calls: 2000 × 0.0004 = 0.80, + 1 job package 1.00
        (3, Decimal("0.40"), Decimal("2.20")),  # 13000 calls (the event after now is not counted yet)
    ]
    hours = realtime_timeline(subscription=sub, now=now, granularity="hour")
    assert len(hours) == 24 + 24 + 13
    assert hours[0].bucket == started and hours[-1].bucket == datetime(2026, 3, 3, 12, tzinfo=UTC)
    nonzero = [(b.bucket, b.amount) for b in hours if b.amount]
    assert nonzero == [
        (datetime(2026, 3, 2, 9, tzinfo=UTC), Decimal("0.80")),
        (datetime(2026, 3, 2, 23, tzinfo=UTC), Decimal("1.00")),
        (datetime(2026, 3, 3, 12, tzinfo=UTC), Decimal("0.40")),
    ]
    running = Decimal(0)
    for b in hours:
        running += b.amount
        assert b.cumulative_amount == running
    only_jobs = realtime_timeline(subscription=sub, now=now, granularity="day", metric="jobs")
    assert [b.cumulative_amount for b in only_jobs] == [Decimal("0.00"), Decimal("1.00"), Decimal("1.00")]
    window = realtime_timeline(
        subscription=sub,
        now=now,
        granularity="hour",
        start=datetime(2026, 3, 2, 8, tzinfo=UTC),
        end=datetime(2026, 3, 2, 10, tzinfo=UTC),
    )
    assert [(b.bucket.hour, b.amount, b.cumulative_amount) for b in window] == [
        (8, Decimal("0.00"), Decimal("0.00")),
        (9, Decimal("0.80"), Decimal("0.80")),
    ]


def test_timeline_api_ends_at_the_usage_total_of_current(api, acme_sub):
    ingest(
        "acme",
        [
            {"metric": "api_calls", "quantity": "7000", "timestamp": timezone.now() - timedelta(hours=26)},
            {"metric": "api_calls", "quantity": "1001", "timestamp": timezone.now() - timedelta(minutes=1)},
            {"metric": "storage_gb", "quantity": "12", "timestamp": timezone.now() - timedelta(hours=2)},
        ],
    )
    acme = api("tenant", "acme")
    current = acme.get(url("acme", "current")).json()
    for granularity in ("day", "hour"):
        r = acme.get(url("acme", "timeline") + f"?granularity={granularity}")
        assert r.status_code == 200, r.content
        results = r.json()["results"]
        assert results[-1]["cumulative_amount"] == current["usage"] == "3.00"  # 3001 × 0.0005 = 1.50 + 10 GB × 0.15
        assert sum(Decimal(b["amount"]) for b in results) == Decimal(current["usage"])
        assert results[0]["bucket"].endswith(":00:00Z")
    r = acme.get(url("acme", "timeline") + "?granularity=week")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "granularity"
    r = acme.get(url("acme", "timeline") + "?from=2026-01-02&to=2026-01-01")
    assert r.status_code == 400
    r = acme.get(url("acme", "timeline") + "?metric=nope")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "metric"
    r = acme.get(url("acme", "timeline") + "?from=yesterday")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "from"


@pytest.mark.parametrize("plan_id", ["pro", "starter", "business"])
def test_timeline_pricer_gives_price_charges_amount(catalog, plan_id):
    from billing.models import Charge
    from billing.pricing import price_charge
    from billing.selectors.calculation import charge_spec
    from realtime.selectors.cost import _amount_pricer

    for charge in Charge.objects.filter(plan_id=plan_id):
        spec = charge_spec(charge)
        price = _amount_pricer(spec, "USD")
        for q in ["0", "1", "5", "99", "100", "101", "9999.5", "10000", "10001", "123456.789", "1000000", "7000001"]:
            assert price(Decimal(q)) == price_charge(spec, Decimal(q), "USD").amount, (charge, q)


def test_by_resource_with_every_aggregation_adds_up_to_current(api, tenant, catalog):
    subscribe("acme", "pro", started_at=timezone.now() - timedelta(days=2))
    at = timezone.now() - timedelta(hours=3)
    events = [
        {
            "metric": "active_users",
            "resource_id": f"vm-{i % 3}",
            "properties": {"user_id": f"u{i % 150}"},
            "timestamp": at,
        }
        for i in range(300)
    ]
    events += [
        {"metric": "storage_gb", "quantity": "40", "resource_id": "bucket-a", "timestamp": at},
        {"metric": "storage_gb", "quantity": "25", "resource_id": "bucket-b", "timestamp": at},
        {"metric": "api_calls", "quantity": "30001", "resource_id": "vm-0", "timestamp": at},
        {"metric": "jobs", "quantity": "1", "timestamp": at},
    ]
    ingest("acme", events)
    acme = api("tenant", "acme")
    current = acme.get(url("acme", "current")).json()
    rows = acme.get(url("acme", "by-resource")).json()["results"]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(current["usage"])
    by_metric = {m["metric"]: Decimal(m["amount"]) for m in current["by_metric"]}
    for metric, amount in by_metric.items():
        assert sum(Decimal(r["amount"]) for r in rows if r["metric"] == metric) == amount, metric
    users = {r["resource_id"]: r for r in rows if r["metric"] == "active_users"}
    # 150 distinct users (volume tier 2: 150 × 1.50 = 225.00) shared by each VM's 100 events.
    assert by_metric["active_users"] == Decimal("225.00")
    assert {k: (u["quantity"], u["amount"]) for k, u in users.items()} == {
        "vm-0": ("100", "75.00"),
        "vm-1": ("100", "75.00"),
        "vm-2": ("100", "75.00"),
    }
    storage = {r["resource_id"]: r for r in rows if r["metric"] == "storage_gb"}
    # max 40 GB - 5 free = 35 × 0.10 = 3.50, split 40 : 25.
    assert (storage["bucket-a"]["quantity"], storage["bucket-b"]["quantity"]) == ("40", "25")
    assert Decimal(storage["bucket-a"]["amount"]) + Decimal(storage["bucket-b"]["amount"]) == Decimal("3.50")
    assert [r["amount"] for r in rows if r["metric"] == "jobs"] == ["1.00"]
    assert [r["resource_id"] for r in rows if r["metric"] == "jobs"] == [None]


def test_the_current_partial_hour_is_exact_with_and_without_later_stamped_events(tenant, catalog):
    """Up to `now` only: the hour's rollup is used when nothing later is stamped in it, raw events otherwise."""
    started = datetime(2026, 3, 1, tzinfo=UTC)
    now = datetime(2026, 3, 2, 15, 45, tzinfo=UTC)
    sub = subscribe("acme", "starter", started_at=started, now=now)
    ingest(
        "acme",
        [
            {
                "metric": "api_calls",
                "quantity": "5000",
                "resource_id": "a",
                "timestamp": datetime(2026, 3, 1, 9, tzinfo=UTC),
            },
            {
                "metric": "api_calls",
                "quantity": "2000",
                "resource_id": "b",
                "timestamp": datetime(2026, 3, 2, 15, 1, tzinfo=UTC),
            },
        ],
    )

    def observed():
        parts = {
            p.key: (p.quantity, p.amount)
            for p in realtime_by_dimension(subscription=sub, now=now, dimension="resource_id")
        }
        last = realtime_timeline(subscription=sub, now=now, granularity="hour")[-1]
        return parts, (last.bucket, last.amount, last.cumulative_amount)

    expected = (
        {"a": (Decimal(5000), Decimal("0.71")), "b": (Decimal(2000), Decimal("0.29"))},  # 2000 × 0.0005 = 1.00
        (datetime(2026, 3, 2, 15, tzinfo=UTC), Decimal("1.00"), Decimal("1.00")),
    )
    assert observed() == expected
    ingest(
        "acme",
        [
            {
                "metric": "api_calls",
                "quantity": "100000",
                "resource_id": "b",
                "timestamp": datetime(2026, 3, 2, 15, 50, tzinfo=UTC),
            }
        ],
        now=now,
    )
    assert observed() == expected


def test_a_late_event_in_a_past_hour_shows_up_in_by_resource_at_once(tenant, catalog):
    started = datetime(2026, 3, 1, tzinfo=UTC)
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    sub = subscribe("acme", "starter", started_at=started, now=now)
    ingest(
        "acme",
        [
            {
                "metric": "api_calls",
                "quantity": "6000",
                "resource_id": "a",
                "timestamp": datetime(2026, 3, 1, 9, tzinfo=UTC),
            }
        ],
    )

    def parts():
        return {
            p.key: (p.quantity, p.amount)
            for p in realtime_by_dimension(subscription=sub, now=now, dimension="resource_id")
        }

    assert parts() == {"a": (Decimal(6000), Decimal("0.50"))}
    assert parts() == {"a": (Decimal(6000), Decimal("0.50"))}  # served from the cached past hours
    ingest(
        "acme",
        [
            {
                "metric": "api_calls",
                "quantity": "2000",
                "resource_id": "b",
                "timestamp": datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            }
        ],
        now=now,
    )
    assert parts() == {"a": (Decimal(6000), Decimal("1.12")), "b": (Decimal(2000), Decimal("0.38"))}
