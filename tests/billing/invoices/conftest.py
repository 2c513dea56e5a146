"""Helpers for the invoice tests: a settable clock, subscriptions made with the ORM, usage, credits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import BASE, utc  # noqa: F401  (re-exported for the tests here; clock and as_ are fixtures there)


def make_sub(
    tenant_id: str,
    plan_id: str = "pro",
    *,
    started_at: datetime,
    trial_end: datetime | None = None,
    status: str = "active",
    ended_at: datetime | None = None,
    now: datetime | None = None,
):
    """Return a subscription created with the ORM (plus its plan span), as the services would store it."""
    from billing.models import Plan, Subscription, SubscriptionPlanSpan, Tenant
    from billing.pricing import period_containing

    Tenant.objects.get_or_create(id=tenant_id, defaults={"name": tenant_id.title()})
    plan = Plan.objects.get(pk=plan_id)
    at = now or timezone.now()
    if ended_at is not None:
        at = min(at, ended_at)
    start, end = period_containing(started_at, plan.interval, max(at, started_at))
    sub = Subscription.objects.create(
        tenant_id=tenant_id,
        plan=plan,
        status=status,
        currency=plan.currency,
        started_at=started_at,
        current_period_start=start,
        current_period_end=end,
        trial_end=trial_end,
        invoiced_through=started_at,
        ended_at=ended_at,
        canceled_at=ended_at,
    )
    SubscriptionPlanSpan.objects.create(subscription=sub, plan=plan, start=started_at)
    return sub


@pytest.fixture
def sub_factory(catalog, clock):
    return make_sub


@pytest.fixture
def record(clock):
    """Return record(tenant_id, metric, quantity, at, **fields): store one usage event through the ingest."""
    from billing.services.usage import usage_ingest

    counter = {"n": 0}

    def _record(tenant_id: str, metric: str, quantity, at: datetime, **fields) -> None:
        counter["n"] += 1
        event = {
            "event_id": f"ev-{counter['n']}",
            "metric": metric,
            "quantity": str(Decimal(quantity)),
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            **fields,
        }
        usage_ingest(tenant_id=tenant_id, events=[event], now=max(clock.now(), at))

    return _record


def grant(tenant_id: str, amount: str, expires_at: datetime | None = None, currency: str = "USD"):
    """Return a credit grant made with the ORM."""
    from billing.models import CreditGrant

    return CreditGrant.objects.create(
        tenant_id=tenant_id,
        amount=Decimal(amount),
        remaining=Decimal(amount),
        currency=currency,
        reason="test",
        expires_at=expires_at,
    )
