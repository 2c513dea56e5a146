"""Generate, list, get, finalize, void and delete invoices through the API (contract section 6)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import CreditApplication, CreditGrant, Invoice, Tenant
from tests.billing.invoices.conftest import BASE, grant, utc

pytestmark = pytest.mark.django_db

JAN, FEB, MAR, APR = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1), utc(2026, 4, 1)


@pytest.fixture
def acme(sub_factory, clock, record):
    """acme on "pro" since Jan 1 (no trial), 20,000 API calls and 8 GB of storage in January; now Feb 10."""
    clock.set(utc(2026, 2, 10, 12))
    sub = sub_factory("acme", "pro", started_at=JAN)
    record("acme", "api_calls", 15000, utc(2026, 1, 5, 10, 30))
    record("acme", "api_calls", 5000, utc(2026, 1, 20, 8))
    record("acme", "storage_gb", 8, utc(2026, 1, 15))
    return sub


def generate(client, tenant_id="acme", **body):
    return client.post(f"{BASE}/tenants/{tenant_id}/invoices", body, format="json")


def test_generate_default_period_prices_lines_and_totals(as_, acme):
    r = generate(as_("finance"))
    assert r.status_code == 201, r.content
    inv = r.json()
    assert set(inv) == {
        "collection_method",
        "attempt_count",
        "next_payment_attempt",
        "amount_credited",
        "amount_refunded",
        "amount_remaining",
        "id",
        "number",
        "tenant_id",
        "subscription_id",
        "status",
        "currency",
        "period_start",
        "period_end",
        "lines",
        "subtotal",
        "discount",
        "tax",
        "total",
        "credits_applied",
        "amount_due",
        "amount_paid",
        "created_at",
        "finalized_at",
        "due_at",
        "paid_at",
        "voided_at",
        "stripe_payment_intent_id",
    }
    assert inv["status"] == "draft" and inv["number"] is None and inv["finalized_at"] is None
    assert inv["tenant_id"] == "acme" and inv["subscription_id"] == str(acme.id) and inv["currency"] == "USD"
    assert (inv["period_start"], inv["period_end"]) == ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    lines = {(line["type"], line.get("metric")): line for line in inv["lines"]}
    assert lines[("base", None)]["amount"] == "49.00" and lines[("base", None)]["quantity"] == "1"
    calls = lines[("usage", "api_calls")]
    assert calls["quantity"] == "20000" and calls["amount"] == "4.00" and "unit_price" not in calls
    assert calls["tiers"] == [
        {"quantity": "10000", "unit_price": "0.00", "amount": "0.00"},
        {"quantity": "10000", "unit_price": "0.0004", "amount": "4.00"},
    ]
    assert lines[("usage", "storage_gb")]["amount"] == "0.30"  # (8 - 5 free) × 0.10
    assert (inv["subtotal"], inv["discount"], inv["tax"], inv["total"]) == ("53.30", "0.00", "0.00", "53.30")
    assert (inv["credits_applied"], inv["amount_due"], inv["amount_paid"]) == ("0.00", "53.30", "0.00")


def test_second_generate_for_the_period_is_409_naming_the_invoice(as_, acme):
    first = generate(as_("finance")).json()
    r = generate(as_("finance"), period_start="2026-01-01", period_end="2026-02-01")
    assert r.status_code == 409
    err = r.json()["errors"][0]
    assert err["code"] == "invoice_exists" and first["id"] in err["detail"]
    r = generate(as_("finance"))
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "nothing_to_invoice"


def test_generate_explicit_and_invalid_periods(as_, acme, clock):
    clock.set(utc(2026, 4, 2))
    r = generate(as_("finance"), period_start="2026-02-01T00:00:00Z", period_end="2026-03-01T00:00:00Z")
    assert r.status_code == 201 and r.json()["period_start"] == "2026-02-01T00:00:00Z"
    # The default is the most recent ended period without an invoice: March, then January.
    assert generate(as_("finance")).json()["period_start"] == "2026-03-01T00:00:00Z"
    assert generate(as_("finance")).json()["period_start"] == "2026-01-01T00:00:00Z"
    for body in (
        {"period_start": "2026-01-05", "period_end": "2026-02-05"},  # not on a boundary
        {"period_start": "2026-01-01", "period_end": "2026-01-20"},  # not a period end (no cancel)
        {"period_start": "2025-12-01", "period_end": "2026-01-01"},  # before the start
        {"period_start": "2026-04-01", "period_end": "2026-05-01"},  # has not ended
    ):
        r = generate(as_("finance"), **body)
        assert r.status_code == 400, body
        assert r.json()["errors"][0]["code"] == "invalid_period"
    r = generate(as_("finance"), period_start="yesterday")
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "period_start"


def test_nothing_to_invoice_without_subscription_or_ended_period(as_, sub_factory, clock):
    Tenant.objects.create(id="lonely")
    r = generate(as_("finance"), "lonely")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "nothing_to_invoice"
    clock.set(utc(2026, 1, 20))
    sub_factory("fresh", started_at=utc(2026, 1, 10))
    r = generate(as_("finance"), "fresh")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "nothing_to_invoice"


def test_cut_period_of_an_immediate_cancel_is_a_valid_period(as_, sub_factory, clock):
    clock.set(utc(2026, 2, 20))
    sub_factory("cut", started_at=JAN, status="canceled", ended_at=utc(2026, 2, 15))
    Invoice.objects.all().delete()  # the cancel signal is not sent for ORM-made rows; generate explicitly
    r = generate(as_("finance"), "cut", period_start="2026-02-01", period_end="2026-02-15")
    assert r.status_code == 201, r.content
    inv = r.json()
    assert inv["period_end"] == "2026-02-15T00:00:00Z"
    base = next(line for line in inv["lines"] if line["type"] == "base")
    assert base["amount"] == "24.50"  # 14 of 28 days of 49.00
    r = generate(as_("finance"), "cut", period_start="2026-02-01", period_end="2026-03-01")
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid_period"


def test_roles_and_tenant_isolation(as_, acme, sub_factory):
    sub_factory("globex", started_at=JAN)
    mine = generate(as_("finance")).json()
    theirs = generate(as_("finance"), "globex").json()
    tenant = as_("tenant", "acme")
    assert generate(tenant).status_code == 403
    assert tenant.post(f"{BASE}/invoices/{mine['id']}/finalize").status_code == 403
    assert tenant.post(f"{BASE}/invoices/{mine['id']}/void").status_code == 403
    assert tenant.delete(f"{BASE}/invoices/{mine['id']}").status_code == 403
    assert tenant.get(f"{BASE}/invoices/{mine['id']}").json()["id"] == mine["id"]
    r = tenant.get(f"{BASE}/invoices/{theirs['id']}")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert tenant.get(f"{BASE}/invoices/{theirs['id']}/pdf").status_code == 404
    assert tenant.get(f"{BASE}/tenants/globex/invoices").status_code == 403
    assert [i["id"] for i in tenant.get(f"{BASE}/tenants/acme/invoices").json()["results"]] == [mine["id"]]
    assert as_("service").get(f"{BASE}/tenants/acme/invoices").status_code == 403


def test_finalize_recomputes_numbers_and_sets_due_date(as_, acme, clock, record):
    draft = generate(as_("finance")).json()
    # A late event for January arrives after the draft: finalize picks it up.
    record("acme", "api_calls", 10000, utc(2026, 1, 31, 23, 59, 59))
    clock.set(utc(2026, 2, 11, 9, 30))
    r = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize")
    assert r.status_code == 200, r.content
    inv = r.json()
    assert inv["status"] == "open" and inv["number"] == "INV-2026-000001"
    assert inv["finalized_at"] == "2026-02-11T09:30:00Z" and inv["due_at"] == "2026-03-13T09:30:00Z"
    calls = next(line for line in inv["lines"] if line.get("metric") == "api_calls")
    assert calls["quantity"] == "30000" and calls["amount"] == "8.00"
    assert inv["subtotal"] == "57.30" and inv["amount_due"] == "57.30"
    again = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize")
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "invoice_not_draft"
    # The next finalize takes the next number.
    clock.set(utc(2026, 3, 5))
    second = generate(as_("finance")).json()
    assert as_("finance").post(f"{BASE}/invoices/{second['id']}/finalize").json()["number"] == "INV-2026-000002"


def test_tax_rate_is_stored_and_applied_after_discount(as_, acme):
    from billing.models import Discount

    Tenant.objects.filter(id="acme").update(tax_rate=Decimal("0.2"))
    Discount.objects.create(subscription=acme, percent_off=Decimal("10"), duration="forever")
    inv = generate(as_("finance")).json()
    # subtotal 53.30, discount 5.33, tax (53.30 − 5.33) × 0.2 = 9.594 → 9.59
    assert (inv["subtotal"], inv["discount"], inv["tax"], inv["total"]) == ("53.30", "5.33", "9.59", "57.56")
    final = as_("finance").post(f"{BASE}/invoices/{inv['id']}/finalize").json()
    assert final["total"] == "57.56"
    stored = Invoice.objects.get(pk=inv["id"])
    assert stored.tax_rate == Decimal("0.2") and stored.discount_applied_id is not None


def test_credits_apply_oldest_expiring_first_and_void_restores_them(as_, acme):
    soon = grant("acme", "10.00", utc(2026, 3, 1))
    later = grant("acme", "20.00", utc(2026, 6, 1))
    never = grant("acme", "50.00")
    grant("acme", "99.00", utc(2026, 2, 1))  # already expired
    grant("acme", "40.00", currency="EUR")  # other currency
    draft = generate(as_("finance")).json()
    assert draft["credits_applied"] == "0.00" and draft["amount_due"] == "53.30"
    inv = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize").json()
    assert (inv["total"], inv["credits_applied"], inv["amount_due"], inv["status"]) == (
        "53.30",
        "53.30",
        "0.00",
        "paid",
    )
    assert inv["paid_at"] == inv["finalized_at"]
    remaining = {g.pk: g.remaining for g in CreditGrant.objects.all()}
    assert (remaining[soon.pk], remaining[later.pk], remaining[never.pk]) == (0, 0, Decimal("26.70"))
    # A paid invoice cannot be voided.
    r = as_("finance").post(f"{BASE}/invoices/{inv['id']}/void")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_not_open"


def test_partial_credits_then_void_restores_and_reopens_the_period(as_, acme, clock):
    soon = grant("acme", "10.00", utc(2026, 3, 1))
    later = grant("acme", "20.00", utc(2026, 6, 1))
    draft = generate(as_("finance")).json()
    inv = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize").json()
    assert (inv["credits_applied"], inv["amount_due"], inv["status"]) == ("30.00", "23.30", "open")
    assert CreditApplication.objects.filter(invoice_id=inv["id"]).count() == 2
    clock.set(utc(2026, 2, 12))
    r = as_("finance").post(f"{BASE}/invoices/{inv['id']}/void")
    assert r.status_code == 200
    voided = r.json()
    assert voided["status"] == "void" and voided["voided_at"] == "2026-02-12T00:00:00Z"
    assert voided["number"] == inv["number"]  # a voided invoice keeps its number: no gap
    soon.refresh_from_db(), later.refresh_from_db()
    assert (soon.remaining, later.remaining) == (Decimal("10.00"), Decimal("20.00"))
    r = as_("finance").post(f"{BASE}/invoices/{inv['id']}/void")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_not_open"
    # The period is open again: a new invoice may be generated, and it gets the credits again.
    again = generate(as_("finance"))
    assert again.status_code == 201 and again.json()["period_start"] == "2026-01-01T00:00:00Z"
    redone = as_("finance").post(f"{BASE}/invoices/{again.json()['id']}/finalize").json()
    assert redone["credits_applied"] == "30.00" and redone["number"] == "INV-2026-000002"


def test_delete_only_drafts(as_, acme):
    draft = generate(as_("finance")).json()
    assert as_("finance").delete(f"{BASE}/invoices/{draft['id']}").status_code == 204
    assert as_("finance").get(f"{BASE}/invoices/{draft['id']}").status_code == 404
    draft = generate(as_("finance")).json()
    as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize")
    r = as_("finance").delete(f"{BASE}/invoices/{draft['id']}")
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "invoice_not_draft"
    r = as_("finance").post(f"{BASE}/invoices/{draft['id']}/void")
    assert r.status_code == 200
    assert as_("finance").delete(f"{BASE}/invoices/{draft['id']}").status_code == 409


def test_void_a_draft_is_409_with_a_hint(as_, acme):
    draft = generate(as_("finance")).json()
    r = as_("finance").post(f"{BASE}/invoices/{draft['id']}/void")
    assert r.status_code == 409
    err = r.json()["errors"][0]
    assert err["code"] == "invoice_not_open" and "deleted, not voided" in err["detail"]


def test_list_filters(as_, acme, clock):
    clock.set(utc(2026, 4, 5))
    ids = {}
    for _ in range(3):
        inv = generate(as_("finance")).json()
        ids[inv["period_start"][:7]] = inv["id"]
    as_("finance").post(f"{BASE}/invoices/{ids['2026-02']}/finalize")
    f = as_("finance")
    body = f.get(f"{BASE}/tenants/acme/invoices").json()
    assert body["count"] == 3 and [i["period_start"][:7] for i in body["results"]] == ["2026-03", "2026-02", "2026-01"]
    assert [i["id"] for i in f.get(f"{BASE}/tenants/acme/invoices?status=open").json()["results"]] == [ids["2026-02"]]
    assert f.get(f"{BASE}/tenants/acme/invoices?status=draft").json()["count"] == 2
    r = f.get(f"{BASE}/tenants/acme/invoices?from=2026-02-01&to=2026-03-01").json()
    assert [i["id"] for i in r["results"]] == [ids["2026-02"]]
    r = f.get(f"{BASE}/tenants/acme/invoices?from=2026-02-01T00:00:00Z").json()
    assert r["count"] == 2
    assert f.get(f"{BASE}/tenants/acme/invoices?to=2026-02-01").json()["count"] == 1
    assert f.get(f"{BASE}/tenants/acme/invoices?limit=1").json()["next"] is not None
    for bad in ("status=bogus", "from=nope", "to=2026-13-45"):
        r = f.get(f"{BASE}/tenants/acme/invoices?{bad}")
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["attr"] == bad.split("=")[0]


def test_discount_durations_across_several_invoices(as_, sub_factory, clock):
    from billing.models import Discount

    clock.set(utc(2026, 4, 2))
    subs = {}
    for tenant_id, duration, periods in (("once", "once", None), ("rep", "repeating", 2), ("ever", "forever", None)):
        subs[tenant_id] = sub_factory(tenant_id, "starter", started_at=JAN)
        Discount.objects.create(
            subscription=subs[tenant_id], percent_off=Decimal("10"), duration=duration, duration_in_periods=periods
        )
    expected = {"once": ["1.90", "0.00", "0.00"], "rep": ["1.90", "1.90", "0.00"], "ever": ["1.90", "1.90", "1.90"]}
    for tenant_id in subs:
        got = []
        for start in ("2026-01-01", "2026-02-01", "2026-03-01"):
            inv = generate(as_("finance"), tenant_id, period_start=start).json()
            final = as_("finance").post(f"{BASE}/invoices/{inv['id']}/finalize").json()
            got.append(final["discount"])
        assert got == expected[tenant_id], tenant_id
    # Voiding the invoice the "once" discount applied to gives it back to the next invoice.
    first = Invoice.objects.get(tenant_id="once", period_start=JAN)
    assert as_("finance").post(f"{BASE}/invoices/{first.pk}/void").status_code == 200
    again = generate(as_("finance"), "once", period_start="2026-01-01").json()
    assert again["discount"] == "1.90"
    assert as_("finance").post(f"{BASE}/invoices/{again['id']}/finalize").json()["discount"] == "1.90"
    assert Discount.objects.get(subscription=subs["once"]).periods_applied == 1


def test_once_discount_is_not_used_up_by_a_zero_trial_invoice(as_, sub_factory, clock):
    from billing.models import Discount

    clock.set(utc(2026, 3, 2))
    sub = sub_factory("trial", "starter", started_at=JAN, trial_end=FEB)
    Discount.objects.create(subscription=sub, amount_off=Decimal("5.00"), currency="USD", duration="once")
    jan = generate(as_("finance"), "trial", period_start="2026-01-01").json()
    jan = as_("finance").post(f"{BASE}/invoices/{jan['id']}/finalize").json()
    assert (jan["total"], jan["status"], jan["number"]) == ("0.00", "paid", "INV-2026-000001")
    feb = generate(as_("finance"), "trial", period_start="2026-02-01").json()
    feb = as_("finance").post(f"{BASE}/invoices/{feb['id']}/finalize").json()
    assert (feb["subtotal"], feb["discount"], feb["amount_due"]) == ("19.00", "5.00", "14.00")


def test_due_days_setting(as_, acme, settings, clock):
    settings.BILLING_DUE_DAYS = 14
    draft = generate(as_("finance")).json()
    inv = as_("finance").post(f"{BASE}/invoices/{draft['id']}/finalize").json()
    assert inv["due_at"] == "2026-02-24T12:00:00Z"


def test_unknown_invoice_is_404(as_, acme):
    import uuid

    r = as_("finance").get(f"{BASE}/invoices/{uuid.uuid4()}")
    assert r.status_code == 404
    assert as_("finance").post(f"{BASE}/invoices/{uuid.uuid4()}/finalize").status_code == 404


def test_schema_lists_invoice_endpoints(as_):
    r = as_("finance").get("/api/schema?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in (
        "/api/v1/billing/tenants/{tenant_id}/invoices",
        "/api/v1/billing/invoices/{invoice_id}",
        "/api/v1/billing/invoices/{invoice_id}/finalize",
        "/api/v1/billing/invoices/{invoice_id}/void",
        "/api/v1/billing/invoices/{invoice_id}/pdf",
    ):
        assert p in paths, p


def test_due_at_and_timedelta_consistency(as_, acme, clock):
    draft = generate(as_("finance")).json()
    inv = Invoice.objects.get(pk=draft["id"])
    from billing.services.invoices import invoice_finalize

    inv = invoice_finalize(invoice=inv)
    assert inv.due_at - inv.finalized_at == timedelta(days=30)
