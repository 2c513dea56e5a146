"""Fixtures of the back-office tests: invoices, subscriptions and usage made with the ORM at fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.models import Invoice, Subscription, Tenant

UTC = UTC
#: "Now" in these tests: 10 March 2026, noon UTC.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(day: str, time: str = "00:00") -> datetime:
    """Return an aware UTC datetime from "2026-03-05" and "10:15"."""
    return datetime.fromisoformat(f"{day}T{time}:00").replace(tzinfo=UTC)


@pytest.fixture
def make_invoice(db):
    """Return a factory of invoices in a given state (ORM only, numbers unique)."""
    counter = iter(range(1, 10_000))

    def make(
        tenant: Tenant,
        *,
        status: str,
        total: str,
        currency: str = "USD",
        finalized_at=None,
        paid_at=None,
        due_at=None,
        amount_paid: str | None = None,
        period_start=None,
    ) -> Invoice:
        n = next(counter)
        start = period_start or at("2025-01-01") + timedelta(days=31 * n)
        total_d = Decimal(total)
        return Invoice.objects.create(
            tenant=tenant,
            status=status,
            currency=currency,
            period_start=start,
            period_end=start + timedelta(days=30),
            subtotal=total_d,
            total=total_d,
            amount_due=total_d,
            amount_paid=Decimal(amount_paid) if amount_paid is not None else (total_d if status == "paid" else 0),
            number=None if status == "draft" else f"INV-TEST-{n:06d}",
            finalized_at=finalized_at,
            paid_at=paid_at,
            due_at=due_at,
        )

    return make


def subscribe(
    tenant_id: str,
    plan_id: str,
    *,
    started: datetime,
    period: tuple[datetime, datetime],
    status: str = "active",
    currency: str = "USD",
) -> Subscription:
    """Return a live subscription made with the ORM (its plan since the start, no trial)."""
    tenant, _ = Tenant.objects.get_or_create(id=tenant_id, defaults={"name": tenant_id.title()})
    return Subscription.objects.create(
        tenant=tenant,
        plan_id=plan_id,
        status=status,
        currency=currency,
        started_at=started,
        current_period_start=period[0],
        current_period_end=period[1],
        invoiced_through=period[0],
    )


def record(tenant_id: str, events: list[tuple[str, str, datetime]], *, now: datetime = NOW) -> None:
    """Record usage events (metric, quantity, timestamp) through the ingest service."""
    from billing.services.usage import usage_ingest

    payload = [
        {
            "event_id": f"{tenant_id}-{i}-{ts.isoformat()}",
            "metric": metric,
            "quantity": quantity,
            "timestamp": ts.isoformat().replace("+00:00", "Z"),
        }
        for i, (metric, quantity, ts) in enumerate(events)
    ]
    usage_ingest(tenant_id=tenant_id, events=payload, now=now)


@pytest.fixture
def usage_scenario(catalog):
    """Two tenants on "starter" (5,000 free API calls, then 0.0005 each) with usage this month.

    acme: period [20 Feb 09:30, 20 Mar 09:30); 6,000 calls on 25 Feb, 4,000 on 3 Mar 10:15 and
    2,000 on 10 Mar 11:40 (inside the partial hour before now): usage cost 0.50 → 2.50 → 3.50.
    globex: periods [5 Feb, 5 Mar) and [5 Mar, 5 Apr); 8,000 calls on 2 Mar (1.50 in the old
    period) and 7,000 on 6 Mar (1.00 in the new one: tiers and free units restart).
    """
    acme = subscribe(
        "acme",
        "starter",
        started=at("2026-01-20", "09:30"),
        period=(at("2026-02-20", "09:30"), at("2026-03-20", "09:30")),
    )
    globex = subscribe("globex", "starter", started=at("2026-01-05"), period=(at("2026-03-05"), at("2026-04-05")))
    record(
        "acme",
        [
            ("api_calls", "6000", at("2026-02-25", "08:00")),
            ("api_calls", "4000", at("2026-03-03", "10:15")),
            ("api_calls", "2000", at("2026-03-10", "11:40")),
        ],
    )
    record(
        "globex", [("api_calls", "8000", at("2026-03-02", "10:00")), ("api_calls", "7000", at("2026-03-06", "12:00"))]
    )
    return {"acme": acme, "globex": globex}
