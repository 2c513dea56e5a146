"""Discount durations and credits around finalize and void: the bookkeeping services directly, then
through the invoice services over consecutive periods."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CreditGrant, Discount, Invoice
from billing.selectors.credits import credits_available
from billing.selectors.discounts import discount_for_next_invoice
from billing.services.credits import credit_grant_create, credits_consume, credits_restore
from billing.services.discounts import discount_apply, discount_mark_applied, discount_unmark_applied

from .conftest import make_subscription

pytestmark = pytest.mark.django_db

JULY = datetime(2026, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "duration,periods,applies",
    [
        ("once", None, [True, False, False]),
        ("repeating", 2, [True, True, False]),
        ("forever", None, [True, True, True]),
    ],
)
def test_discount_bookkeeping_over_three_invoices(subscribe, duration, periods, applies):
    sub = subscribe("acme")
    discount = discount_apply(
        subscription=sub, percent_off=Decimal("10"), duration=duration, duration_in_periods=periods
    )
    seen = []
    for _ in range(3):
        current = discount_for_next_invoice(subscription_id=sub.pk)
        seen.append(current is not None)
        if current is not None:
            discount_mark_applied(discount=current)
    assert seen == applies
    discount.refresh_from_db()
    assert discount.periods_applied == sum(applies)
    assert discount.active is (duration == "forever")
    if duration != "forever":
        assert discount.ended_at is not None
        # Voiding the last invoice that used it gives the use back: it applies once more.
        discount_unmark_applied(discount=discount)
        assert discount_for_next_invoice(subscription_id=sub.pk) == discount


def _invoice(sub, start):
    return Invoice.objects.create(
        tenant_id=sub.tenant_id,
        subscription=sub,
        currency=sub.currency,
        period_start=start,
        period_end=start + timedelta(days=30),
        status="open",
    )


def test_credits_consumed_oldest_expiring_first_and_restored(subscribe):
    sub = subscribe("acme")
    now = timezone.now()
    later = credit_grant_create(
        subscription=sub, amount=Decimal("10"), reason="later", expires_at=now + timedelta(days=10)
    )
    sooner = credit_grant_create(
        subscription=sub, amount=Decimal("4"), reason="sooner", expires_at=now + timedelta(days=5)
    )
    never = credit_grant_create(subscription=sub, amount=Decimal("20"), reason="never")
    expired = CreditGrant.objects.create(
        tenant_id="acme",
        amount=Decimal("50"),
        remaining=Decimal("50"),
        currency="USD",
        reason="expired",
        expires_at=now - timedelta(days=1),
    )
    euros = CreditGrant.objects.create(
        tenant_id="acme", amount=Decimal("100"), remaining=Decimal("100"), currency="EUR", reason="other currency"
    )
    assert credits_available(tenant_id="acme", currency="USD", at=now) == Decimal("34")

    invoice = _invoice(sub, JULY)
    assert credits_consume(invoice=invoice, amount=Decimal("20"), at=now) == Decimal("20")
    remaining = {g.reason: g.remaining for g in CreditGrant.objects.all()}
    assert remaining == {
        "sooner": Decimal("0"),
        "later": Decimal("0"),
        "never": Decimal("14"),
        "expired": Decimal("50"),
        "other currency": Decimal("100"),
    }
    assert credits_available(tenant_id="acme", currency="USD", at=now) == Decimal("14")

    assert credits_restore(invoice=invoice) == Decimal("20")
    assert credits_restore(invoice=invoice) == Decimal("0")  # each application is given back once
    for grant, left in ((later, "10"), (sooner, "4"), (never, "20"), (expired, "50"), (euros, "100")):
        grant.refresh_from_db()
        assert grant.remaining == Decimal(left)

    # More than available: only unexpired USD credit is taken; after `later` expires it is skipped too.
    assert credits_consume(invoice=_invoice(sub, JULY + timedelta(days=31)), amount=Decimal("100"), at=now) == Decimal(
        "34"
    )
    CreditGrant.objects.filter(pk=never.pk).update(remaining=Decimal("20"))
    CreditGrant.objects.filter(pk=later.pk).update(remaining=Decimal("10"))
    eleven_days = now + timedelta(days=11)
    assert credits_available(tenant_id="acme", currency="USD", at=eleven_days) == Decimal("20")
    assert credits_consume(
        invoice=_invoice(sub, JULY + timedelta(days=62)), amount=Decimal("15"), at=eleven_days
    ) == Decimal("15")
    later.refresh_from_db()
    never.refresh_from_db()
    assert later.remaining == Decimal("10") and never.remaining == Decimal("5")


# --- through the invoice services (built by the invoice engineer) -------------------------------


def _bill_period(invoices, tenant_id, start):
    invoice = invoices.invoice_generate(tenant_id=tenant_id, period_start=start)
    return invoices.invoice_finalize(invoice=invoice)


@pytest.mark.parametrize(
    "duration,periods,expected",
    [
        ("once", None, ["5.00", "0.00", "0.00"]),
        ("repeating", 2, ["5.00", "5.00", "0.00"]),
        ("forever", None, ["5.00", "5.00", "5.00"]),
    ],
)
def test_discount_durations_across_three_consecutive_invoices(finance, catalog, duration, periods, expected):
    invoices = pytest.importorskip("billing.services.invoices")
    sub = make_subscription("acme", "starter", started_at=JULY)
    body = {"amount_off": "5", "duration": duration}
    if periods:
        body["duration_in_periods"] = periods
    r = finance.post(f"/api/v1/billing/subscriptions/{sub.id}/discount", body, format="json")
    assert r.status_code == 200, r.json()

    results = [_bill_period(invoices, "acme", JULY.replace(month=m)) for m in (7, 8, 9)]
    assert [fmt2(i.subtotal) for i in results] == ["19.00"] * 3
    assert [fmt2(i.discount) for i in results] == expected
    assert [fmt2(i.total) for i in results] == [fmt2(Decimal("19") - Decimal(d)) for d in expected]
    d = Discount.objects.get(subscription=sub)
    assert d.periods_applied == expected.count("5.00")
    assert d.active is (duration == "forever")
    shown = finance.get("/api/v1/billing/tenants/acme/subscription").json()["discount"]
    if duration == "forever":
        assert shown["periods_applied"] == 3 and shown["active"] is True
    else:
        assert shown is None


def test_credits_consumed_at_finalize_and_restored_at_void(finance, catalog):
    invoices = pytest.importorskip("billing.services.invoices")
    sub = make_subscription("acme", "starter", started_at=JULY)
    now = timezone.now()
    for amount, expires in (("10", now + timedelta(days=60)), ("5", None), ("3", now + timedelta(days=7))):
        r = finance.post(
            f"/api/v1/billing/subscriptions/{sub.id}/credits",
            {"amount": amount, "reason": f"grant {amount}", **({"expires_at": expires.isoformat()} if expires else {})},
            format="json",
        )
        assert r.status_code == 201, r.json()
    CreditGrant.objects.create(
        tenant_id="acme",
        amount=Decimal("100"),
        remaining=Decimal("100"),
        currency="USD",
        reason="expired",
        expires_at=now - timedelta(hours=1),
    )
    balance = lambda: finance.get("/api/v1/billing/tenants/acme/subscription").json()["credit_balance"]  # noqa: E731
    assert balance() == "18.00"

    # July: 19.00 total takes all 18 of unexpired credit (3, then 10, then the never-expiring 5).
    july = _bill_period(invoices, "acme", JULY)
    assert july.status == "open"
    assert fmt2(july.total) == "19.00" and fmt2(july.credits_applied) == "18.00" and fmt2(july.amount_due) == "1.00"
    left = {g.reason: g.remaining for g in CreditGrant.objects.all()}
    assert left == {
        "grant 10": Decimal("0"),
        "grant 5": Decimal("0"),
        "grant 3": Decimal("0"),
        "expired": Decimal("100"),
    }
    assert balance() == "0.00"

    # August: nothing left to apply (the expired grant never counts).
    august = _bill_period(invoices, "acme", JULY.replace(month=8))
    assert fmt2(august.credits_applied) == "0.00" and fmt2(august.amount_due) == "19.00"

    invoices.invoice_void(invoice=july)
    july.refresh_from_db()
    assert july.status == "void"
    assert balance() == "18.00"
    left = {g.reason: g.remaining for g in CreditGrant.objects.all()}
    assert left == {
        "grant 10": Decimal("10"),
        "grant 5": Decimal("5"),
        "grant 3": Decimal("3"),
        "expired": Decimal("100"),
    }

    # The reopened July period is invoiced again and takes the restored credits again.
    again = _bill_period(invoices, "acme", JULY)
    assert fmt2(again.credits_applied) == "18.00" and fmt2(again.amount_due) == "1.00"
    assert balance() == "0.00"


def test_partial_credit_consumption_takes_soonest_expiring_first(finance, catalog):
    invoices = pytest.importorskip("billing.services.invoices")
    sub = make_subscription("acme", "starter", started_at=JULY)
    now = timezone.now()
    never = credit_grant_create(subscription=sub, amount=Decimal("50"), reason="never")
    soon = credit_grant_create(
        subscription=sub, amount=Decimal("12"), reason="soon", expires_at=now + timedelta(days=3)
    )
    july = _bill_period(invoices, "acme", JULY)
    assert july.status == "paid" and fmt2(july.credits_applied) == "19.00" and fmt2(july.amount_due) == "0.00"
    soon.refresh_from_db()
    never.refresh_from_db()
    assert soon.remaining == Decimal("0") and never.remaining == Decimal("43")


def fmt2(value) -> str:
    return f"{Decimal(value):.2f}"
