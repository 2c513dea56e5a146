"""GET /plans and /plans/:id, and load_catalog on good and bad files."""

import json

import pytest
from django.core.management import CommandError, call_command

from billing.models import Plan

pytestmark = pytest.mark.django_db


def test_list_plans_and_filter(finance, catalog):
    r = finance.get("/api/v1/billing/plans")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"count", "next", "previous", "results"}
    ids = [p["id"] for p in body["results"]]
    assert "pro" in ids and "pro-eur" in ids
    eur = finance.get("/api/v1/billing/plans?currency=EUR").json()
    assert [p["id"] for p in eur["results"]] == ["pro-eur"]
    page = finance.get("/api/v1/billing/plans?limit=2&offset=1").json()
    assert len(page["results"]) == 2 and page["previous"] and page["next"]


def test_get_plan_shape(api, catalog):
    r = api("tenant", "acme").get("/api/v1/billing/plans/pro")
    assert r.status_code == 200
    p = r.json()
    assert p["base_price"] == "49.00" and p["currency"] == "USD" and p["trial_days"] == 14
    charges = {c["metric"]: c for c in p["charges"]}
    assert charges["api_calls"]["tiers"][1] == {"up_to": "1000000", "unit_price": "0.0004"}
    assert charges["api_calls"]["tiers"][2]["up_to"] is None
    # the contract's example, echoed as written: prices with at least the currency's places
    assert charges["storage_gb"] == {
        "metric": "storage_gb",
        "model": "per_unit",
        "unit_price": "0.10",
        "free_units": "5",
    }
    assert charges["jobs"]["package_size"] == "100" and charges["jobs"]["package_price"] == "1.00"
    assert charges["active_users"]["tiers"] == [
        {"up_to": "100", "unit_price": "2.00"},
        {"up_to": None, "unit_price": "1.50"},
    ]
    metrics = {m["code"]: m for m in p["metrics"]}
    assert metrics["active_users"] == {
        "code": "active_users",
        "name": "Active users",
        "unit": "user",
        "aggregation": "unique_count",
        "field": "user_id",
    }


def test_inactive_plan_is_gettable_but_not_listed(finance, catalog):
    Plan.objects.filter(id="starter").update(active=False)
    assert "starter" not in [p["id"] for p in finance.get("/api/v1/billing/plans").json()["results"]]
    assert finance.get("/api/v1/billing/plans/starter").json()["active"] is False
    r = finance.get("/api/v1/billing/plans/nope")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"


def write(tmp_path, data, name="catalog.json"):
    f = tmp_path / name
    f.write_text(json.dumps(data) if name.endswith(".json") else data)
    return str(f)


GOOD = {
    "metrics": [{"code": "calls", "name": "Calls", "unit": "call", "aggregation": "sum"}],
    "plans": [
        {
            "id": "basic",
            "name": "Basic",
            "currency": "USD",
            "interval": "month",
            "base_price": "10.00",
            "charges": [{"metric": "calls", "model": "per_unit", "unit_price": "0.01"}],
        }
    ],
}


def test_load_catalog_is_idempotent_and_prunes(tmp_path, db):
    path = write(tmp_path, GOOD)
    call_command("load_catalog", path)
    call_command("load_catalog", path)
    assert Plan.objects.get(id="basic").charges.count() == 1
    Plan.objects.create(id="old", name="Old", currency="USD")
    call_command("load_catalog", path, "--prune")
    assert Plan.objects.get(id="old").active is False
    assert Plan.objects.get(id="basic").active is True


def test_load_catalog_yaml(tmp_path, db):
    import yaml

    call_command("load_catalog", write(tmp_path, yaml.safe_dump(GOOD), "c.yaml"))
    assert Plan.objects.filter(id="basic").exists()


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d["plans"][0]["charges"][0].update(metric="nope"), "unknown metric 'nope'"),
        (lambda d: d["plans"][0].update(currency="XXQ"), "not an ISO 4217"),
        (lambda d: d["plans"][0]["charges"][0].update(unit_price="-1"), "must not be negative"),
        (lambda d: d["plans"][0].update(base_price="-5"), "must not be negative"),
        (
            lambda d: d["plans"][0]["charges"].__setitem__(
                0,
                {
                    "metric": "calls",
                    "model": "graduated",
                    "tiers": [
                        {"up_to": "100", "unit_price": "1"},
                        {"up_to": "50", "unit_price": "0.5"},
                        {"up_to": None, "unit_price": "0.1"},
                    ],
                },
            ),
            "order",
        ),
        (
            lambda d: d["plans"][0]["charges"].__setitem__(
                0,
                {
                    "metric": "calls",
                    "model": "volume",
                    "tiers": [{"up_to": "100", "unit_price": "1"}, {"up_to": "200", "unit_price": "0.5"}],
                },
            ),
            "open-ended",
        ),
    ],
)
def test_load_catalog_rejects_bad_files_naming_the_item(tmp_path, db, mutate, message):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(CommandError) as exc:
        call_command("load_catalog", write(tmp_path, data))
    assert message in str(exc.value)
    assert "plans[0] (basic)" in str(exc.value)
    assert not Plan.objects.filter(id="basic").exists()
