"""Section 14 end to end: level metrics, filters, minimum, one-offs and overrides, priced to the cent.

April 2026 has 30 days (2,592,000 s). Every amount is worked out by hand in the comments.
"""

from decimal import Decimal

import pytest

from billing.models import Invoice, OneOffCharge, Tenant
from billing.services.catalog import CatalogError, catalog_load
from tests.billing.subscriptions.conftest import BASE, record, utc  # noqa: F401

pytestmark = pytest.mark.django_db

APR = lambda day, hour=0: utc(2026, 4, day, hour)  # noqa: E731
CATALOG = {
    "metrics": [
        {"code": "storage", "name": "Storage", "unit": "GB", "aggregation": "weighted_sum"},
        {"code": "disk", "name": "Disk", "unit": "GB", "aggregation": "latest"},
        {"code": "compute", "name": "Compute", "unit": "hour", "aggregation": "sum"},
    ],
    "plans": [
        {
            "id": "cloud",
            "name": "Cloud",
            "currency": "USD",
            "base_price": "10.00",
            "minimum_amount": "100.00",
            "charges": [
                {"metric": "storage", "model": "per_unit", "unit_price": "0.10"},
                {"metric": "disk", "model": "per_unit", "unit_price": "1.00"},
                {
                    "metric": "compute",
                    "model": "per_unit",
                    "unit_price": "0.05",
                    "filters": [
                        {
                            "name": "GPU",
                            "properties": {"type": ["gpu"]},
                            "model": "graduated",
                            "tiers": [{"up_to": "10", "unit_price": "2"}, {"up_to": None, "unit_price": "1"}],
                        }
                    ],
                },
            ],
        }
    ],
}


@pytest.fixture
def cloud(clock, as_):
    catalog_load(data=CATALOG)
    Tenant.objects.create(id="acme", name="Acme")
    clock.set(APR(1))
    r = as_("finance").post(f"{BASE}/tenants/acme/subscriptions", {"plan_id": "cloud"}, format="json")
    assert r.status_code == 201, r.json()
    return r.json()["id"]


def usage(record):
    # storage: bucket b1 100 GB all month, b2 200 GB from Apr 16 → (100×30 + 200×15) GB-days / 30 = 200 GB-months
    record("acme", "storage", 100, APR(1), resource_id="b1")
    record("acme", "storage", 200, APR(16), resource_id="b2")
    # disk: the last reading (7 GB) counts
    record("acme", "disk", 5, APR(3))
    record("acme", "disk", 7, APR(20))
    # compute: 40 CPU hours, 15 GPU hours
    record("acme", "compute", 40, APR(5), properties={"type": "cpu"})
    record("acme", "compute", 9, APR(6), properties={"type": "gpu"})
    record("acme", "compute", 6, APR(7), properties={"type": "gpu", "model": "a100"})


def lines(data):
    return [(ln["type"], ln["description"], ln.get("filter"), ln["quantity"], ln["amount"]) for ln in data["lines"]]


def test_every_new_rule_on_the_preview_equals_the_invoice(cloud, clock, as_, record):
    finance = as_("finance")
    usage(record)
    r = finance.post(
        f"{BASE}/subscriptions/{cloud}/charges", {"description": "Setup fee", "amount": "250"}, format="json"
    )
    assert r.status_code == 201, r.json()
    assert (r.json()["amount"], r.json()["status"], r.json()["quantity"]) == ("250.00", "pending", "1")
    clock.set(APR(30, 23))
    finance.get(f"{BASE}/tenants/acme/billing/preview").json()
    clock.set(utc(2026, 5, 1))
    finance.get(f"{BASE}/tenants/acme/billing/preview").json()  # period rolled: new period
    r = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json")
    assert r.status_code == 201, r.json()
    invoice = r.json()
    expected = [
        ("base", "Cloud — base price", None, "1", "10.00"),
        ("usage", "Cloud — Storage", None, "200", "20.00"),  # 200 GB-months × $0.10
        ("usage", "Cloud — Disk", None, "7", "7.00"),
        ("usage", "Cloud — Compute", None, "40", "2.00"),  # 40 CPU hours × $0.05
        ("usage", "Cloud — Compute (GPU)", "GPU", "15", "25.00"),  # 10 × $2 + 5 × $1
        ("minimum", "Cloud — minimum commitment", None, "1", "36.00"),  # $100 − $64
        ("one_off", "Setup fee", None, "1", "250.00"),
    ]
    assert lines(invoice) == expected
    assert invoice["subtotal"] == "350.00"
    # the preview at the end of the period (the same period, cut at its end) gives the same lines
    from billing.models import Subscription
    from billing.selectors.calculation import bill_data, period_bill

    sub = Subscription.objects.get(pk=cloud)
    bill = bill_data(
        period_bill(subscription=sub, period_start=APR(1), period_end=utc(2026, 5, 1), cutoff=utc(2026, 5, 1))
    )
    assert lines(bill) == expected and bill["total"] == invoice["total"]
    # finalizing marks the one-off invoiced; voiding returns it to pending
    inv = finance.post(f"{BASE}/invoices/{invoice['id']}/finalize", {}, format="json").json()
    assert inv["status"] == "open"
    charge = OneOffCharge.objects.get()
    assert (charge.status, str(charge.invoice_id)) == ("invoiced", invoice["id"])
    r = finance.delete(f"{BASE}/subscriptions/{cloud}/charges/{charge.id}")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "one_off_charge_invoiced"
    assert finance.post(f"{BASE}/invoices/{invoice['id']}/void", {}, format="json").json()["status"] == "void"
    charge.refresh_from_db()
    assert (charge.status, charge.invoice_id) == ("pending", None)
    assert [ln["type"] for ln in finance.get(f"{BASE}/tenants/acme/billing/preview").json()["lines"]][-1] == "one_off"


def test_preview_integrates_to_now_and_the_estimate_holds_the_level(cloud, clock, as_, record):
    record("acme", "storage", 100, APR(1), resource_id="b1")
    clock.set(APR(16))
    finance = as_("finance")
    preview = finance.get(f"{BASE}/tenants/acme/billing/preview").json()
    estimate = finance.get(f"{BASE}/tenants/acme/billing/estimate").json()
    storage = lambda d: next(ln for ln in d["lines"] if ln.get("metric") == "storage")  # noqa: E731
    assert (storage(preview)["quantity"], storage(preview)["amount"]) == ("50", "5.00")  # 100 GB × 15/30
    assert (storage(estimate)["quantity"], storage(estimate)["amount"]) == ("100", "10.00")  # held to Apr 30
    # the minimum is prorated: half the period owes $50.00; base $5.00 + storage $5.00 → $40.00
    assert [ln["amount"] for ln in preview["lines"] if ln["type"] == "minimum"] == ["40.00"]


def test_an_override_cuts_the_period_and_says_negotiated(cloud, clock, as_, record):
    finance = as_("finance")
    record("acme", "storage", 100, APR(1), resource_id="b1")
    clock.set(APR(11))
    r = finance.put(
        f"{BASE}/subscriptions/{cloud}/price-overrides",
        {"base_price": "5.00", "charges": [{"metric": "storage", "model": "per_unit", "unit_price": "0.05"}]},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert r.json()["base_price"] == "5.00" and r.json()["charges"][0]["unit_price"] == "0.05"
    assert as_("tenant", "acme").get(f"{BASE}/subscriptions/{cloud}/price-overrides").json()["plan_id"] == "cloud"
    clock.set(utc(2026, 5, 1))
    invoice = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    got = [(t, d, a) for t, d, _, _, a in lines(invoice) if t != "usage" or "Storage" in d]
    assert got == [
        ("base", "Cloud — base price (prorated 33.3%)", "3.33"),  # $10 × 10/30
        ("usage", "Cloud — Storage", "3.33"),  # 100 GB × 10 days / 30 = 33.33 GB-months × $0.10
        ("minimum", "Cloud — minimum commitment", "26.67"),  # $33.33 owed − $6.66
        ("base", "Cloud — base price (prorated 66.7%) (negotiated)", "3.33"),  # $5 × 20/30
        ("usage", "Cloud — Storage (negotiated)", "3.33"),  # 66.67 GB-months × $0.05
        ("minimum", "Cloud — minimum commitment", "60.01"),  # $66.67 owed − $6.66
    ]
    # a plan's own prices as the override change nothing
    r = finance.put(f"{BASE}/subscriptions/{cloud}/price-overrides", {"base_price": "10.00"}, format="json")
    assert r.status_code == 200
    assert finance.delete(f"{BASE}/subscriptions/{cloud}/price-overrides").status_code == 204
    assert finance.delete(f"{BASE}/subscriptions/{cloud}/price-overrides").status_code == 404


def test_bad_override_and_one_off_input_is_a_400_naming_the_field(cloud, as_):
    finance = as_("finance")
    r = finance.put(
        f"{BASE}/subscriptions/{cloud}/price-overrides",
        {"charges": [{"metric": "storage", "model": "per_unit"}]},
        format="json",
    )
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "charges.0.unit_price"
    r = finance.put(f"{BASE}/subscriptions/{cloud}/price-overrides", {"charges": [{"metric": "nope"}]}, format="json")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "charges.0.metric"
    r = finance.post(f"{BASE}/subscriptions/{cloud}/charges", {"description": "x"}, format="json")
    assert r.status_code == 400
    r = as_("tenant", "acme").post(
        f"{BASE}/subscriptions/{cloud}/charges", {"description": "x", "amount": "1"}, format="json"
    )
    assert r.status_code == 403
    assert as_("tenant", "other").get(f"{BASE}/subscriptions/{cloud}/charges").status_code == 404
    assert not Invoice.objects.exists()


def test_a_pending_one_off_on_a_draft_can_be_deleted_and_the_draft_is_recomputed(cloud, clock, as_):
    finance = as_("finance")
    charge = finance.post(
        f"{BASE}/subscriptions/{cloud}/charges",
        {"description": "Consulting", "quantity": "3", "unit_price": "33.333"},
        format="json",
    ).json()
    assert charge["amount"] == "100.00"
    clock.set(utc(2026, 5, 1))
    invoice = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    assert lines(invoice)[-1] == ("one_off", "Consulting", None, "3", "100.00")
    assert finance.delete(f"{BASE}/subscriptions/{cloud}/charges/{charge['id']}").status_code == 204
    again = finance.get(f"{BASE}/invoices/{invoice['id']}").json()
    assert "one_off" not in [ln["type"] for ln in again["lines"]]
    assert Decimal(again["subtotal"]) == Decimal(invoice["subtotal"]) - 100


def test_catalog_filter_errors_name_the_item():
    bad = {
        "metrics": CATALOG["metrics"],
        "plans": [
            {
                "id": "pro",
                "currency": "USD",
                "charges": [
                    {"metric": "storage", "model": "per_unit", "unit_price": "1"},
                    {
                        "metric": "compute",
                        "model": "per_unit",
                        "unit_price": "1",
                        "filters": [
                            {"name": "GPU", "properties": {"type": ["gpu"]}, "model": "per_unit"},
                            {"name": "GPU", "properties": {"type": ["tpu"]}, "model": "per_unit", "unit_price": "1"},
                        ],
                    },
                ],
            }
        ],
    }
    with pytest.raises(CatalogError) as exc:
        catalog_load(data=bad)
    assert "plans[0] (pro).charges[1] (compute).filters[0] (GPU).unit_price: is required" in exc.value.errors
    assert (
        "plans[0] (pro).charges[1] (compute).filters[1] (GPU).name: filter names are unique within a charge"
        in exc.value.errors
    )
