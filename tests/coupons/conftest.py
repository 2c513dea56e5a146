"""Helpers of the coupon tests: live subscriptions made directly, coupons made through the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import Plan, Subscription, SubscriptionPlanSpan, Tenant
from billing.pricing import period_containing


def make_subscription(
    tenant_id: str, plan_id: str = "pro", status: str = "active", started_at: datetime | None = None
) -> Subscription:
    """Return a live subscription of `tenant_id` on `plan_id` (tenant created if needed)."""
    tenant, _ = Tenant.objects.get_or_create(id=tenant_id, defaults={"name": tenant_id})
    plan = Plan.objects.get(pk=plan_id)
    start = started_at or datetime(2026, 1, 1, tzinfo=UTC)
    period_start, period_end = period_containing(start, plan.interval, max(start, timezone.now()))
    sub = Subscription.objects.create(
        tenant=tenant,
        plan=plan,
        status=status,
        currency=plan.currency,
        started_at=start,
        current_period_start=period_start,
        current_period_end=period_end,
        invoiced_through=start,
    )
    SubscriptionPlanSpan.objects.create(subscription=sub, plan=plan, start=start)
    return sub


@pytest.fixture
def subscribe(catalog):
    """Return make_subscription (the demo catalog loaded)."""
    return make_subscription


@pytest.fixture
def make_coupon(catalog):
    """Return a factory: make_coupon(code, **terms) -> Coupon (10 % once by default)."""
    from coupons.services.coupons import coupon_create

    def make(code: str = "SAVE10", **terms):
        if "percent_off" not in terms and "amount_off" not in terms:
            terms["percent_off"] = "10"
        from decimal import Decimal

        for key in ("percent_off", "amount_off"):
            if terms.get(key) is not None:
                terms[key] = Decimal(terms[key])
        return coupon_create(code=code, **terms)

    return make


def days_ago(n: int) -> datetime:
    return timezone.now() - timedelta(days=n)
