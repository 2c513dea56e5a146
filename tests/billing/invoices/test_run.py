"""The invoice run (in-process): ended periods invoiced once, periods rolled, crash-safe re-runs,
the grace period, and the final invoice of an immediate cancel."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import Invoice, Subscription
from billing.services.invoices import invoices_run
from tests.billing.invoices.conftest import utc

pytestmark = pytest.mark.django_db

JAN, FEB, MAR, APR = utc(2026, 1, 1), utc(2026, 2, 1), utc(2026, 3, 1), utc(2026, 4, 1)


def periods(tenant_id: str) -> list[tuple]:
    return list(
        Invoice.objects.filter(tenant_id=tenant_id)
        .exclude(status="void")
        .order_by("period_start")
        .values_list("period_start", "period_end", "status")
    )


def numbers() -> list[str]:
    return sorted(Invoice.objects.exclude(number=None).values_list("number", flat=True))


def consecutive(n: int) -> list[str]:
    return [f"INV-2026-{i:06d}" for i in range(1, n + 1)]


@pytest.fixture
def fleet(sub_factory, clock, record):
    """Five subscriptions in different states on March 10."""
    clock.set(utc(2026, 1, 1))
    subs = {
        "monthly": sub_factory("monthly", "starter", started_at=JAN),
        "mid": sub_factory("mid", "starter", started_at=utc(2026, 1, 15)),
        "leaving": sub_factory("leaving", "starter", started_at=JAN),
        "annual": sub_factory("annual", "pro-annual", started_at=JAN),
        "trial": sub_factory("trial", "pro", started_at=JAN, trial_end=utc(2026, 1, 15), status="trialing"),
    }
    Subscription.objects.filter(pk=subs["leaving"].pk).update(cancel_at_period_end=True, canceled_at=utc(2026, 1, 20))
    record("monthly", "api_calls", 15000, utc(2026, 1, 10))  # 10,000 over the free 5,000 × 0.0005 = 5.00
    record("monthly", "api_calls", 5000, utc(2026, 2, 10))
    clock.set(utc(2026, 3, 10))
    return subs


def test_run_invoices_every_ended_period_once_and_rolls_periods(fleet):
    summary = invoices_run(at=utc(2026, 3, 10), sync=True)
    assert (summary.subscriptions, summary.generated, summary.finalized, summary.failed) == (4, 6, 6, 0)
    assert periods("monthly") == [(JAN, FEB, "open"), (FEB, MAR, "open")]
    assert periods("mid") == [(utc(2026, 1, 15), utc(2026, 2, 15), "open")]
    assert periods("leaving") == [(JAN, FEB, "open")]  # canceled at its period end: nothing after
    assert periods("annual") == []
    assert [p[:2] for p in periods("trial")] == [(JAN, FEB), (FEB, MAR)]
    amounts = dict(Invoice.objects.filter(tenant_id="monthly").values_list("period_start", "amount_due"))
    assert (amounts[JAN], amounts[FEB]) == (24, 19)  # 19.00 base + 5.00 usage, then 19.00 + 0.00
    trial_jan = Invoice.objects.get(tenant_id="trial", period_start=JAN)
    assert str(trial_jan.subtotal) == "26.8700"  # 49.00 × 17/31 days after the trial ended on Jan 15
    assert numbers() == consecutive(6)
    monthly = Subscription.objects.get(pk=fleet["monthly"].pk)
    assert monthly.invoiced_through == MAR
    assert (monthly.current_period_start, monthly.current_period_end) == (MAR, APR)
    leaving = Subscription.objects.get(pk=fleet["leaving"].pk)
    assert (leaving.status, leaving.ended_at, leaving.invoiced_through) == ("canceled", FEB, FEB)
    assert Subscription.objects.get(pk=fleet["trial"].pk).status == "active"
    # Re-running finds nothing new.
    again = invoices_run(at=utc(2026, 3, 10), sync=True)
    assert (again.subscriptions, again.generated, again.finalized) == (0, 0, 0)
    assert Invoice.objects.count() == 6 and numbers() == consecutive(6)


def test_a_crash_halfway_rolls_back_whole_periods_and_a_rerun_completes(fleet, monkeypatch):
    import billing.services.subscriptions as subs_service

    real_roll = subs_service.subscription_roll_period
    crashed = []

    def flaky_roll(*, subscription_id, at):
        # The first roll of "mid" dies after its invoice was generated, finalized and numbered.
        if str(subscription_id) == str(fleet["mid"].pk) and not crashed:
            crashed.append(subscription_id)
            raise RuntimeError("worker killed")
        return real_roll(subscription_id=subscription_id, at=at)

    monkeypatch.setattr(subs_service, "subscription_roll_period", flaky_roll)
    first = invoices_run(at=utc(2026, 3, 10), sync=True)
    assert first.failed == 1 and "worker killed" in first.errors[0]
    assert periods("mid") == []  # rolled back whole: no invoice, no number taken
    assert Subscription.objects.get(pk=fleet["mid"].pk).invoiced_through == utc(2026, 1, 15)
    assert numbers() == consecutive(first.finalized)
    second = invoices_run(at=utc(2026, 3, 10), sync=True)
    assert (second.subscriptions, second.generated, second.failed) == (1, 1, 0)
    assert periods("mid") == [(utc(2026, 1, 15), utc(2026, 2, 15), "open")]
    assert Invoice.objects.count() == 6 and numbers() == consecutive(6)


def test_existing_draft_for_the_period_is_reused_not_duplicated(fleet):
    from billing.services.invoices import invoice_generate

    draft = invoice_generate(tenant_id="monthly", period_start=JAN, period_end=FEB)
    invoices_run(at=utc(2026, 3, 10), sync=True)
    draft.refresh_from_db()
    assert draft.status == "open" and periods("monthly") == [(JAN, FEB, "open"), (FEB, MAR, "open")]


def test_grace_period_delays_finalize(fleet, settings, clock):
    settings.BILLING_GRACE_HOURS = 48
    summary = invoices_run(at=utc(2026, 2, 2), sync=True)
    assert summary.finalized == 0
    assert periods("monthly") == [(JAN, FEB, "draft")]
    assert Subscription.objects.get(pk=fleet["monthly"].pk).invoiced_through == FEB
    later = invoices_run(at=utc(2026, 2, 3, 1), sync=True)
    assert (later.subscriptions, later.drafts, later.finalized) == (0, 3, 3)  # monthly, leaving, trial
    assert periods("monthly") == [(JAN, FEB, "open")]
    assert numbers() == consecutive(3)


def test_immediate_cancel_queues_the_final_invoice_for_the_cut_period(
    sub_factory, clock, record, django_capture_on_commit_callbacks
):
    from billing.services.subscriptions import subscription_cancel

    clock.set(JAN)
    sub = sub_factory("quit", "starter", started_at=JAN)
    record("quit", "api_calls", 8000, utc(2026, 1, 5))
    clock.set(utc(2026, 1, 16, 12))
    with django_capture_on_commit_callbacks(execute=True):
        subscription_cancel(subscription=sub, at_period_end=False)
    assert periods("quit") == [(JAN, utc(2026, 1, 16, 12), "draft")]
    inv = Invoice.objects.get(tenant_id="quit")
    base = inv.lines.get(type="base")
    assert base.amount == Decimal("9.50")  # 15.5 of 31 days of 19.00
    assert inv.amount_due == Decimal("11.00")  # + (8,000 − 5,000 free) calls × 0.0005 = 1.50
    sub.refresh_from_db()
    assert sub.invoiced_through == utc(2026, 1, 16, 12)
    # The run finalizes it like any other; re-running adds nothing.
    summary = invoices_run(at=utc(2026, 1, 16, 13), sync=True)
    assert (summary.subscriptions, summary.drafts, summary.finalized) == (0, 1, 1)
    assert periods("quit") == [(JAN, utc(2026, 1, 16, 12), "open")]
    assert invoices_run(at=utc(2026, 3, 1), sync=True).generated == 0


def test_command_sync_prints_progress_and_summary(fleet):
    out = StringIO()
    call_command("run_invoices", "--at", "2026-03-10", "--sync", stdout=out)
    text = out.getvalue()
    assert "Invoice run as of 2026-03-10T00:00:00Z" in text
    assert "Due: 4 subscription(s)" in text and "6 invoice(s) generated, 6 finalized, 0 failed" in text
    out = StringIO()
    call_command("run_invoices", "--at", "2026-03-10", "--sync", stdout=out)
    assert "0 invoice(s) generated" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("run_invoices", "--at", "someday", stdout=StringIO())


def test_command_queues_tasks(fleet):
    out = StringIO()
    call_command("run_invoices", "--at", "2026-03-10", "--batch-size", "2", stdout=out)
    assert "Queued 2 task(s)" in out.getvalue()  # 4 subscriptions in batches of 2 (eager in tests)
    assert Invoice.objects.count() == 6 and numbers() == consecutive(6)


def test_run_applies_credits_and_discount_like_finalize(sub_factory, clock):
    """The run's own finalize path (locked grants, batch plan cache) applies credits and discounts exactly."""
    from billing.models import CreditGrant, Discount
    from tests.billing.invoices.conftest import grant

    clock.set(JAN)
    sub = sub_factory("thrifty", "starter", started_at=JAN)
    # Starter: base 19.00 a month, no usage. A once 10 % discount and 5 + 10 USD of credits.
    Discount.objects.create(subscription=sub, percent_off=Decimal("10"), duration="once")
    soon = grant("thrifty", "5.00", expires_at=utc(2026, 6, 1))
    later = grant("thrifty", "10.00")
    clock.set(utc(2026, 3, 10))
    summary = invoices_run(at=utc(2026, 3, 10), sync=True)
    assert (summary.generated, summary.finalized, summary.failed) == (2, 2, 0)
    jan, feb = Invoice.objects.filter(tenant_id="thrifty").order_by("period_start")
    # January: 19.00 − 1.90 (10 %) = 17.10; credits 15.00 (the expiring 5 first, then 10) → 2.10 due
    assert (jan.subtotal, jan.discount, jan.total, jan.credits_applied, jan.amount_due) == (
        Decimal("19.00"),
        Decimal("1.90"),
        Decimal("17.10"),
        Decimal("15.00"),
        Decimal("2.10"),
    )
    # February: the once-discount is used up and the credits are gone → 19.00 due
    assert (feb.discount, feb.credits_applied, feb.amount_due) == (Decimal("0.00"), Decimal("0.00"), Decimal("19.00"))
    assert CreditGrant.objects.get(pk=soon.pk).remaining == 0 and CreditGrant.objects.get(pk=later.pk).remaining == 0
    d = Discount.objects.get(subscription=sub)
    assert (d.periods_applied, d.active) == (1, False)
