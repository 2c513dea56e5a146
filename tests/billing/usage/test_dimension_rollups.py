"""Rollups per priced dimension: kept by the ingest, read by filtered charges, rebuilt on catalog changes.

Every priced figure is compared with a from-scratch computation (the raw-event path, the rollups
switched off) and, where short, with hand-computed amounts.
"""

from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest

from billing.models import Invoice, Metric, Tenant, UsageDimCoverage, UsageDimHourly, UsageDimRollup
from billing.selectors.usage import priced
from billing.services.catalog import catalog_load
from tests.billing.subscriptions.conftest import BASE, record, utc  # noqa: F401

pytestmark = pytest.mark.django_db

APR = lambda day, hour=0, minute=0: utc(2026, 4, day, hour, minute)  # noqa: E731
MAY1 = utc(2026, 5, 1)
GPU = {"name": "GPU", "properties": {"type": ["gpu"]}, "model": "per_unit", "unit_price": "2"}
A100 = {"name": "A100", "properties": {"model": ["a100"], "type": ["gpu"]}, "model": "per_unit", "unit_price": "5"}


def catalog(*filters):
    return {
        "metrics": [
            {"code": "compute", "name": "Compute", "unit": "hour", "aggregation": "sum"},
            {"code": "calls", "name": "Calls", "aggregation": "count"},
        ],
        "plans": [
            {
                "id": "cloud",
                "name": "Cloud",
                "currency": "USD",
                "charges": [
                    {"metric": "compute", "model": "per_unit", "unit_price": "0.10", "filters": list(filters)},
                    {"metric": "calls", "model": "per_unit", "unit_price": "0.01"},
                ],
            }
        ],
    }


@pytest.fixture
def cloud(clock, as_):
    catalog_load(data=catalog(GPU))
    Tenant.objects.create(id="acme", name="Acme")
    clock.set(APR(1))
    r = as_("finance").post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "cloud"}, format="json")
    assert r.status_code == 201, r.json()
    return r.json()["id"]


def usage(record):
    # 40 CPU hours, 9 + 6 GPU hours (6 of them A100s), 2 with no type; some inside partial hours
    record("acme", "compute", 40, APR(5, 10, 15), properties={"type": "cpu"}, resource_id="vm-1")
    record("acme", "compute", 9, APR(6, 3), properties={"type": "gpu"}, resource_id="vm-2")
    record("acme", "compute", 6, APR(20, 9, 40), properties={"type": "gpu", "model": "a100"}, resource_id="vm-3")
    record("acme", "compute", 2, APR(20, 10, 5), properties={"region": "eu"}, resource_id="vm-1")
    record("acme", "calls", 1, APR(7))


@contextmanager
def from_scratch():
    """Price filtered charges from raw events only (what every figure must equal)."""
    with (
        mock.patch("billing.selectors.usage.charges.dim_quantities", return_value=None),
        mock.patch("billing.selectors.usage.charges.dim_quantities_by", return_value=None),
        mock.patch("billing.selectors.usage.charges.dim_series", return_value=None),
    ):
        yield


@contextmanager
def rollup_reads():
    """Yield the list of whole-hour rollup reads made (None where the rollups could not answer)."""
    calls: list = []
    real = priced._whole_rows

    def spy(*args):
        calls.append(real(*args))
        return calls[-1]

    with mock.patch.object(priced, "_whole_rows", spy):
        yield calls


def read_both(client, *paths: str):
    """Return GET of each path (one: its answer), having checked they read the rollups and equal from-scratch."""
    with rollup_reads() as reads:
        answers = [client.get(path).json() for path in paths]
    assert reads and all(r is not None for r in reads)
    with from_scratch():
        assert [client.get(path).json() for path in paths] == answers
    return answers[0] if len(answers) == 1 else answers


def lines(data):
    return [(ln["description"], ln.get("filter"), ln["quantity"], ln["amount"]) for ln in data["lines"]]


def test_the_ingest_keeps_rows_per_priced_dimension_only_for_filtered_metrics(cloud, record):
    assert Metric.objects.get(code="compute").dimension_keys == ["type"]
    assert Metric.objects.get(code="calls").dimension_keys == []
    usage(record)
    record("acme", "compute", 1, APR(6, 3, 30), properties={"type": "gpu", "size": 8}, resource_id="vm-2")
    rows = {(r.hour, json_key(r.dims)): (r.quantity_sum, r.event_count) for r in UsageDimHourly.objects.all()}
    assert rows == {
        (APR(5, 10), '{"type": "cpu"}'): (40, 1),
        (APR(6, 3), '{"type": "gpu"}'): (10, 2),  # the extra key is not priced: one row
        (APR(20, 9), '{"type": "gpu"}'): (6, 1),
        (APR(20, 10), "{}"): (2, 1),
    }
    per_resource = {(r.resource_id, r.hour): r.quantity_sum for r in UsageDimRollup.objects.all()}
    assert per_resource[("vm-2", APR(6, 3))] == 10 and len(per_resource) == 4
    assert not UsageDimHourly.objects.filter(metric_id="calls").exists()


def json_key(dims) -> str:
    import json

    return json.dumps(dims, sort_keys=True)


def test_the_preview_reads_whole_hours_from_the_rollups_and_equals_the_raw_events(cloud, clock, as_, record):
    usage(record)
    clock.set(APR(20, 9, 50))  # the A100 hour is the partial edge; the 10:05 event is after now
    finance = as_("finance")
    preview = read_both(finance, f"{BASE}/tenants/acme/billing/preview")
    assert [ln for ln in lines(preview) if "Compute" in ln[0]] == [
        ("Cloud — Compute", None, "40", "4.00"),
        ("Cloud — Compute (GPU)", "GPU", "15", "30.00"),
    ]


def test_a_filter_on_a_new_key_rebuilds_the_open_period_exactly(cloud, clock, as_, record):
    usage(record)
    clock.set(APR(25, 12, 30))
    finance = as_("finance")
    result = catalog_load(data=catalog(A100, GPU))
    assert result.dimensions_rebuilt == ["compute"]
    assert Metric.objects.get(code="compute").dimension_keys == ["model", "type"]
    assert UsageDimHourly.objects.filter(dims={"type": "gpu", "model": "a100"}).count() == 1
    preview = read_both(finance, f"{BASE}/tenants/acme/billing/preview")
    # 42 hours priced by the charge (40 CPU + 2 untyped), 6 A100 hours × $5, the other 9 GPU × $2
    assert [ln for ln in lines(preview) if "Compute" in ln[0]] == [
        ("Cloud — Compute", None, "42", "4.20"),
        ("Cloud — Compute (A100)", "A100", "6", "30.00"),
        ("Cloud — Compute (GPU)", "GPU", "9", "18.00"),
    ]
    # unchanged keys (a price change only) rebuild nothing; removing every filter drops the rows
    assert catalog_load(data=catalog({**A100, "unit_price": "6"}, GPU)).dimensions_rebuilt == []
    assert catalog_load(data=catalog()).dimensions_rebuilt == ["compute"]
    assert not UsageDimHourly.objects.exists() and not UsageDimRollup.objects.exists()


def test_a_closed_period_is_never_rebuilt_and_reads_before_the_rebuild_take_raw_events(cloud, clock, as_, record):
    finance = as_("finance")
    usage(record)
    clock.set(utc(2026, 5, 1))
    finance.get(f"{BASE}/tenants/acme/billing/preview")  # rolls the period
    invoice = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    assert finance.post(f"{BASE}/invoices/{invoice['id']}/finalize", {}, format="json").json()["status"] == "open"
    record("acme", "compute", 4, utc(2026, 5, 2, 8), properties={"type": "gpu", "model": "a100"})
    record("acme", "compute", 3, utc(2026, 5, 2, 9), properties={"type": "gpu"})
    catalog_load(data=catalog(A100, GPU))
    # April (closed) keeps its rows as they were; May is rebuilt from the closed period's end
    assert list(UsageDimCoverage.objects.values_list("tenant_id", "valid_from")) == [("acme", utc(2026, 5, 1))]
    assert UsageDimHourly.objects.filter(hour__lt=utc(2026, 5, 1), dims__has_key="model").count() == 0
    assert UsageDimHourly.objects.filter(hour__gte=utc(2026, 5, 1), dims__has_key="model").count() == 1
    assert Invoice.objects.get(pk=invoice["id"]).lines.filter(filter="A100").count() == 0
    clock.set(utc(2026, 5, 3))
    with rollup_reads() as reads:
        preview = finance.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert reads and all(r is not None for r in reads)
    assert [ln for ln in lines(preview) if "Compute" in ln[0]][1:] == [
        ("Cloud — Compute (A100)", "A100", "4", "20.00"),
        ("Cloud — Compute (GPU)", "GPU", "3", "6.00"),
    ]
    # re-pricing April now (never done by the service: its invoice holds the lines) reads raw events
    from billing.models import Subscription
    from billing.selectors.calculation import bill_data, period_bill

    sub = Subscription.objects.get(pk=cloud)
    with rollup_reads() as reads:
        april = bill_data(period_bill(subscription=sub, period_start=APR(1), period_end=MAY1, cutoff=MAY1))
    assert reads == [None]
    with from_scratch():
        again = bill_data(period_bill(subscription=sub, period_start=APR(1), period_end=MAY1, cutoff=MAY1))
    assert lines(april) == lines(again)


def test_a_price_override_filtering_on_a_new_key_syncs_the_keys(cloud, clock, as_, record):
    usage(record)
    clock.set(APR(21))
    finance = as_("finance")
    eu = {"name": "EU", "properties": {"region": ["eu"]}, "model": "per_unit", "unit_price": "1"}
    r = finance.put(
        f"{BASE}/subscriptions/{cloud}/price-overrides",
        {"charges": [{"metric": "compute", "model": "per_unit", "unit_price": "0.10", "filters": [eu, GPU]}]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert Metric.objects.get(code="compute").dimension_keys == ["region", "type"]
    record("acme", "compute", 3, APR(21, 5), properties={"region": "eu", "type": "gpu"})  # EU comes first
    clock.set(APR(22))
    preview = read_both(finance, f"{BASE}/tenants/acme/billing/preview")
    # the override's segment (from Apr 21): 3 EU hours × $1; the 2 EU hours before it went to the plan's charge
    override_part = [ln[1:] for ln in lines(preview) if "Compute" in ln[0]][2:]
    assert override_part == [(None, "0", "0.00"), ("EU", "3", "3.00"), ("GPU", "0", "0.00")]


def test_real_time_cost_by_resource_and_timeline_equal_the_raw_events(cloud, clock, as_, record):
    usage(record)
    catalog_load(data=catalog(A100, GPU))
    clock.set(APR(20, 10, 30))
    finance = as_("finance")
    rt = f"{BASE}/realtime-cost/tenants/acme"
    paths = [f"{rt}/current", f"{rt}/by-resource", f"{rt}/by-cost-center", f"{rt}/timeline?granularity=hour"]
    answers = read_both(finance, *paths)
    by_resource = {(r["resource_id"], r["metric"]): r["amount"] for r in answers[1]["results"]}
    assert by_resource[("vm-3", "compute")] == "30.00"  # the A100 hours
    assert Decimal(answers[3]["results"][-1]["cumulative_amount"]) == Decimal(answers[0]["usage"])


def test_an_admin_edit_of_a_charge_filter_syncs_the_keys(cloud, admin_client):
    from billing.models import Charge

    page = admin_client.get("/admin/billing/plan/cloud/change/")
    data = {"id": "cloud", "name": "Cloud", "description": "", "currency": "USD", "interval": "month"}
    data.update(base_price="0", trial_days="0", minimum_amount="", active="on")
    for formset in page.context["inline_admin_formsets"]:
        fs = formset.formset
        data.update({f"{fs.prefix}-{k}": v for k, v in fs.management_form.initial.items()})
        for i, form in enumerate(fs.forms):
            for name, field in form.fields.items():
                value = form.initial.get(name, field.initial)
                data[f"{fs.prefix}-{i}-{name}"] = "" if value is None else value
            if form.instance.metric_id == "compute":
                data[f"{fs.prefix}-{i}-filters"] = (
                    '[{"name": "EU", "properties": {"region": ["eu"]}, "model": "per_unit", "unit_price": "1"}]'
                )
            data[f"{fs.prefix}-{i}-tiers"] = "[]"
    response = admin_client.post("/admin/billing/plan/cloud/change/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert Charge.objects.get(metric_id="compute").filters[0]["name"] == "EU"
    assert Metric.objects.get(code="compute").dimension_keys == ["region"]
    assert "region" in admin_client.get("/admin/billing/metric/compute/change/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_an_ingest_racing_a_catalog_change_is_folded_with_the_new_keys():
    import threading
    import time
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from billing.services import usage_dims
    from billing.services.usage import usage_ingest

    catalog_load(data=catalog(GPU))
    now = timezone.now()

    def events(prefix):
        stamp = (now - timedelta(minutes=10)).isoformat()
        props = {"type": "gpu", "model": "a100"}
        return [
            {"event_id": f"{prefix}{i}", "metric": "compute", "timestamp": stamp, "properties": props} for i in range(3)
        ]

    usage_ingest(tenant_id="acme", events=events("before-"), now=now)
    rebuilt, real = threading.Event(), usage_dims._rebuild

    def slow_rebuild(*args):
        real(*args)
        rebuilt.set()
        time.sleep(0.5)  # rebuilt, the lock held, not committed yet: the ingest must wait for the commit

    def change():
        try:
            catalog_load(data=catalog(A100, GPU))
        finally:
            connection.close()

    def ingest():
        try:
            rebuilt.wait(10)
            usage_ingest(tenant_id="acme", events=events("during-"), now=now)
        finally:
            connection.close()

    with mock.patch.object(usage_dims, "_rebuild", slow_rebuild):
        threads = [threading.Thread(target=change), threading.Thread(target=ingest)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert rebuilt.is_set()
    rows = [(r.dims, r.event_count) for r in UsageDimHourly.objects.filter(tenant_id="acme")]
    assert rows == [({"type": "gpu", "model": "a100"}, 6)]
