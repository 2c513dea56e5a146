"""Section 14 through real-time cost, the usage summary and quotas: parts add up to the whole."""

from decimal import Decimal

import pytest

from tests.billing.subscriptions.conftest import BASE, record, utc  # noqa: F401
from tests.billing.terms.test_richer_pricing import APR, cloud, usage  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
RT = f"{BASE}/realtime-cost/tenants/acme"


def test_by_resource_and_timeline_add_up_to_current(cloud, clock, as_, record):  # noqa: F811
    finance = as_("finance")
    usage(record)
    record("acme", "compute", 3, APR(8), properties={"type": "gpu"}, resource_id="vm-9", cost_center="")
    clock.set(APR(12))
    finance.put(
        f"{BASE}/subscriptions/{cloud}/price-overrides",
        {"charges": [{"metric": "storage", "model": "per_unit", "unit_price": "0.07"}]},
        format="json",
    )
    finance.post(f"{BASE}/subscriptions/{cloud}/charges", {"description": "Setup", "amount": "99"}, format="json")
    clock.set(APR(25, 13))
    current = finance.get(f"{RT}/current").json()
    preview = finance.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert current["total"] == preview["total"]
    usage_lines = sum(Decimal(ln["amount"]) for ln in preview["lines"] if ln["type"] == "usage")
    assert Decimal(current["usage"]) == usage_lines > 0
    by_resource = finance.get(f"{RT}/by-resource").json()["results"]
    assert sum(Decimal(r["amount"]) for r in by_resource) == usage_lines
    # storage is split by the bucket that held each piece of level: b2 only from Apr 16
    storage = {r["resource_id"]: Decimal(r["amount"]) for r in by_resource if r["metric"] == "storage"}
    assert set(storage) == {"b1", "b2"} and storage["b1"] > storage["b2"] > 0
    for granularity in ("day", "hour"):
        timeline = finance.get(f"{RT}/timeline?granularity={granularity}").json()["results"]
        assert Decimal(timeline[-1]["cumulative_amount"]) == usage_lines
        assert sum(Decimal(b["amount"]) for b in timeline) == usage_lines


def test_summary_and_quotas_understand_level_metrics(cloud, clock, as_, record):  # noqa: F811
    record("acme", "storage", 100, APR(1), resource_id="b1")
    record("acme", "storage", 200, APR(16), resource_id="b2")
    record("acme", "disk", 5, APR(3))
    record("acme", "disk", 7, APR(20))
    clock.set(utc(2026, 5, 1))
    tenant = as_("tenant", "acme")
    r = tenant.get(f"{BASE}/tenants/acme/usage/summary?from=2026-04-01&to=2026-05-01")
    assert r.status_code == 200, r.json()
    rows = {x["metric"]: x for x in r.json()["results"]}
    # (100 × 30 + 200 × 15) GB-days over a 30-day range = 200; the last disk reading is 7
    assert (rows["storage"]["quantity"], rows["storage"]["events"]) == ("200", 2)
    assert (rows["disk"]["quantity"], rows["disk"]["aggregation"]) == ("7", "latest")
    by_resource = tenant.get(
        f"{BASE}/tenants/acme/usage/summary?from=2026-04-01&to=2026-05-01&metric=storage&group_by=resource"
    ).json()["results"]
    assert {x["resource_id"]: x["quantity"] for x in by_resource} == {"b1": "100", "b2": "100"}
    days = tenant.get(
        f"{BASE}/tenants/acme/usage/summary?from=2026-04-01&to=2026-05-01&metric=storage&group_by=day"
    ).json()["results"]
    # each day is 1/30 of the month's GB-months, rounded to 12 places: they add up to 200 within that rounding
    assert len(days) == 30 and abs(sum(Decimal(x["quantity"]) for x in days) - 200) <= Decimal("30E-12")
    finance = as_("finance")
    r = finance.post(
        f"{BASE}/quotas",
        {"tenant_id": "acme", "metric": "disk", "limit": "10", "period": "month", "enforcement": "soft"},
        format="json",
    )
    assert r.status_code == 201, r.json()
    clock.set(APR(25))
    check = finance.get(f"{BASE}/quotas/tenants/acme/check?metric=disk").json()["results"][0]
    assert (check["used"], check["status"]) == ("7", "ok")


def test_the_dashboard_prices_level_and_filtered_charges_like_the_preview(cloud, clock, as_, record):  # noqa: F811
    from billing.selectors.dashboard import usage_this_month

    usage(record)
    clock.set(APR(25, 13))
    preview = as_("finance").get(f"{BASE}/tenants/acme/billing/preview").json()
    # the dashboard's usage cost is every line beyond the base: the usage lines and Cloud's minimum top-up
    beyond_base = sum(Decimal(ln["amount"]) for ln in preview["lines"] if ln["type"] != "base")
    assert {ln["type"] for ln in preview["lines"]} == {"base", "usage", "minimum"}
    month = usage_this_month(now=APR(25, 13))
    assert month.current_usage[next(iter(month.current_usage))] == beyond_base
    # its days add up to it (the period is April, the month the dashboard shows)
    assert sum(d.amount for d in month.days["USD"]) == beyond_base
