"""The dashboard's figures: revenue and collections by month and currency, receivables, usage cost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.selectors.calculation import preview_bill
from billing.selectors.dashboard import (
    collected_by_month,
    dashboard_summary,
    invoiced_by_month,
    last_months,
    receivables,
    top_tenants_by_usage,
    usage_this_month,
)
from tests.billing.admin.conftest import NOW, at, record, subscribe

pytestmark = pytest.mark.django_db


def test_last_months_are_the_twelve_ending_with_this_one():
    months = last_months(now=NOW)
    assert months[0] == date(2025, 4, 1) and months[-1] == date(2026, 3, 1) and len(months) == 12


def test_invoiced_sums_finalized_totals_by_month_and_currency(tenant, make_invoice):
    make_invoice(tenant, status="open", total="100.25", finalized_at=at("2026-03-01", "00:00"))
    make_invoice(tenant, status="paid", total="50.10", finalized_at=at("2026-03-09", "23:59"), paid_at=at("2026-03-10"))
    make_invoice(tenant, status="uncollectible", total="10.00", finalized_at=at("2026-02-28", "23:59"))
    make_invoice(tenant, status="open", total="70.00", currency="EUR", finalized_at=at("2026-03-02"))
    make_invoice(tenant, status="void", total="999.00", finalized_at=at("2026-03-02"))  # voided: not revenue
    make_invoice(tenant, status="draft", total="555.00")  # not finalized
    make_invoice(
        tenant, status="paid", total="33.00", finalized_at=at("2025-03-31", "23:00"), paid_at=at("2025-04-02")
    )  # 13 months ago: outside the chart

    invoiced = invoiced_by_month(now=NOW)

    assert set(invoiced) == {"USD", "EUR"}
    usd = {m.month: m.amount for m in invoiced["USD"]}
    assert len(usd) == 12
    assert usd[date(2026, 3, 1)] == Decimal("150.35")
    assert usd[date(2026, 2, 1)] == Decimal("10.00")
    assert sum(usd.values()) == Decimal("160.35")
    assert invoiced["EUR"][-1].amount == Decimal("70.00")


def test_collected_sums_amount_paid_by_paid_month(tenant, make_invoice):
    make_invoice(tenant, status="paid", total="80.00", finalized_at=at("2026-01-20"), paid_at=at("2026-02-03"))
    make_invoice(
        tenant,
        status="paid",
        total="20.00",
        amount_paid="19.99",
        finalized_at=at("2026-02-20"),
        paid_at=at("2026-03-04"),
    )
    make_invoice(tenant, status="open", total="40.00", finalized_at=at("2026-03-01"))

    usd = {m.month: m.amount for m in collected_by_month(now=NOW)["USD"]}

    assert usd[date(2026, 2, 1)] == Decimal("80.00")
    assert usd[date(2026, 3, 1)] == Decimal("19.99")
    assert usd[date(2026, 1, 1)] == 0


def test_outstanding_and_overdue_are_open_invoices_amount_due(tenant, other_tenant, make_invoice):
    make_invoice(tenant, status="open", total="100.00", finalized_at=at("2026-01-01"), due_at=at("2026-01-31"))
    make_invoice(other_tenant, status="open", total="25.50", finalized_at=at("2026-03-01"), due_at=at("2026-03-31"))
    make_invoice(
        tenant, status="open", total="7.00", currency="EUR", finalized_at=at("2026-01-01"), due_at=at("2026-02-01")
    )
    make_invoice(
        tenant,
        status="paid",
        total="500.00",
        finalized_at=at("2026-01-01"),
        due_at=at("2026-01-31"),
        paid_at=at("2026-03-01"),
    )
    make_invoice(tenant, status="uncollectible", total="60.00", finalized_at=at("2025-11-01"), due_at=at("2025-12-01"))

    outstanding, overdue = receivables(now=NOW)

    assert (outstanding["USD"].amount, outstanding["USD"].count) == (Decimal("125.50"), 2)
    assert (overdue["USD"].amount, overdue["USD"].count) == (Decimal("100.00"), 1)
    assert (outstanding["EUR"].amount, overdue["EUR"].amount) == (Decimal("7.00"), Decimal("7.00"))


def test_usage_cost_per_day_is_the_daily_increase_of_each_periods_usage_cost(usage_scenario):
    usage = usage_this_month(now=NOW)

    days = {d.day: d.amount for d in usage.days["USD"]}
    assert list(days) == [date(2026, 3, n) for n in range(1, 11)]
    assert days == {
        date(2026, 3, 1): 0,
        date(2026, 3, 2): Decimal("1.50"),
        date(2026, 3, 3): Decimal("2.00"),
        date(2026, 3, 4): 0,
        date(2026, 3, 5): 0,
        date(2026, 3, 6): Decimal("1.00"),
        date(2026, 3, 7): 0,
        date(2026, 3, 8): 0,
        date(2026, 3, 9): 0,
        date(2026, 3, 10): Decimal("1.00"),
    }
    # The current period's usage cost equals the preview's usage lines, cent for cent.
    for sub in usage_scenario.values():
        bill = preview_bill(subscription=sub, now=NOW)
        assert usage.current_usage[sub.pk] == sum(line.amount for line in bill.lines if line.type == "usage")
    assert usage.current_usage[usage_scenario["acme"].pk] == Decimal("3.50")
    assert usage.current_usage[usage_scenario["globex"].pk] == Decimal("1.00")


def test_top_tenants_rank_by_the_previews_usage_cost(usage_scenario):
    subscribe("initech", "starter", started=at("2026-03-01"), period=(at("2026-03-01"), at("2026-04-01")))
    record("initech", [("api_calls", "100", at("2026-03-02"))])  # within the free calls: 0.00

    top = top_tenants_by_usage(now=NOW)

    assert [(t.tenant_id, t.usage) for t in top] == [("acme", Decimal("3.50")), ("globex", Decimal("1.00"))]
    acme = top[0]
    assert (acme.plan_id, acme.status, acme.currency) == ("starter", "active", "USD")
    # Starter's base (19.00) prorated to now plus the usage: the preview's total so far.
    assert acme.total == preview_bill(subscription=usage_scenario["acme"], now=NOW).totals.total


def test_usage_queries_do_not_grow_per_day_or_per_event(usage_scenario):
    with CaptureQueriesContext(connection) as few:
        usage_this_month(now=NOW)
    record("acme", [("api_calls", "20", at(f"2026-03-0{d}", "13:00")) for d in range(4, 10)])
    with CaptureQueriesContext(connection) as more:
        usage = usage_this_month(now=NOW)
    assert len(more.captured_queries) == len(few.captured_queries)
    # 12,120 calls: (12,120 − 5,000) × 0.0005 = 3.56; each of 4–9 March gained 0.01 (plus globex's 1.00 on the 6th).
    assert usage.current_usage[usage_scenario["acme"].pk] == Decimal("3.56")
    assert [d.amount for d in usage.days["USD"]][3:9] == [Decimal("0.01")] * 2 + [Decimal("1.01")] + [
        Decimal("0.01")
    ] * 3


def test_dashboard_summary_with_no_data_is_all_zero(db):
    d = dashboard_summary(now=NOW)
    assert d.currency == "USD"
    assert d.invoiced == {} and d.collected == {} and d.outstanding == {} and d.overdue == {}
    assert d.top_tenants == [] and d.usage_days == {}


def test_overrides_minimums_and_one_offs_reach_the_dashboard_as_on_the_preview(catalog, clock):
    """The dashboard prices with `period_bill`: a negotiated price, a minimum commitment and a one-off
    charge move its figure exactly where the preview's lines beyond the base are, day by day too."""
    from billing.models import Plan
    from billing.selectors.calculation import period_bill
    from billing.services.terms import one_off_charge_create, price_override_set

    sub = subscribe("acme", "starter", started=at("2026-03-01"), period=(at("2026-03-01"), at("2026-04-01")))
    record(
        "acme",
        [
            ("api_calls", "6000", at("2026-03-02", "10:00")),
            ("api_calls", "4000", at("2026-03-06", "10:00")),
            ("api_calls", "2000", at("2026-03-09", "08:00")),
        ],
    )
    assert usage_this_month(now=NOW).current_usage[sub.pk] == Decimal("3.50")  # (12,000 − 5,000) × 0.0005

    Plan.objects.filter(id="starter").update(minimum_amount=Decimal("100.00"))
    clock.set(at("2026-03-05"))
    price_override_set(subscription=sub, charges=[{"metric": "api_calls", "model": "per_unit", "unit_price": "0.001"}])
    clock.set(at("2026-03-07", "09:00"))
    one_off_charge_create(subscription=sub, description="Setup fee", amount=Decimal("250.00"))
    clock.set(NOW)

    usage = usage_this_month(now=NOW)
    preview = preview_bill(subscription=sub, now=NOW)
    beyond_base = [line for line in preview.lines if line.type != "base"]
    assert sorted({line.type for line in beyond_base}) == ["minimum", "one_off", "usage"]
    assert any("(negotiated)" in line.description for line in beyond_base)
    # [1 Mar, 5 Mar): calls 0.50 + minimum 12.90 − base 2.45 − 0.50 = 9.95; [5 Mar, 10 Mar 12:00), negotiated:
    # 6,000 × 0.001 = 6.00 + minimum 17.74 − base 3.37 − 6.00 = 8.37; setup fee 250.00.
    assert usage.current_usage[sub.pk] == sum(line.amount for line in beyond_base) == Decimal("274.82")
    days = {d.day: d.amount for d in usage.days["USD"]}
    assert sum(days.values()) == Decimal("274.82")
    # Each midnight's running total is the bill cut there (one-off charges from the day they were added).
    running = Decimal(0)
    for n in range(1, 10):
        running += days[date(2026, 3, n)]
        cut = at(f"2026-03-{n + 1:02d}")
        bill = period_bill(
            subscription=sub, period_start=sub.current_period_start, period_end=sub.current_period_end, cutoff=cut
        )
        one_offs = Decimal("250.00") if cut > at("2026-03-07", "09:00") else 0
        assert running == sum(line.amount for line in bill.lines if line.type in ("usage", "minimum")) + one_offs, n
