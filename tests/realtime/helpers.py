"""Helpers shared by the cost-center, quota and real-time tests: subscriptions and usage."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from billing.models import Plan, Subscription, SubscriptionPlanSpan
from billing.pricing import period_containing

BASE = "/api/v1/billing"


def subscribe(
    tenant_id: str,
    plan_id: str = "starter",
    *,
    started_at: datetime,
    now: datetime | None = None,
    trial_end: datetime | None = None,
) -> Subscription:
    """Return an active subscription created with the ORM: periods anchored on `started_at`."""
    from billing.models import Tenant

    Tenant.objects.get_or_create(id=tenant_id)
    plan = Plan.objects.get(pk=plan_id)
    start, end = period_containing(started_at, plan.interval, now or timezone.now())
    subscription = Subscription.objects.create(
        tenant_id=tenant_id,
        plan=plan,
        status="active",
        currency=plan.currency,
        started_at=started_at,
        current_period_start=start,
        current_period_end=end,
        trial_end=trial_end,
        invoiced_through=started_at,
    )
    SubscriptionPlanSpan.objects.create(subscription=subscription, plan=plan, start=started_at)
    return subscription


def ingest(tenant_id: str, events: list[dict], now: datetime | None = None) -> int:
    """Record `events` through the usage service (as the ingest endpoints do); return how many were new."""
    from billing.services.usage import usage_ingest

    prepared = []
    for i, ev in enumerate(events):
        ev = dict(ev)
        ev.setdefault("event_id", f"ev-{timezone.now().timestamp()}-{i}")
        if isinstance(ev.get("timestamp"), datetime):
            ev["timestamp"] = ev["timestamp"].isoformat().replace("+00:00", "Z")
        if isinstance(ev.get("quantity"), Decimal):
            ev["quantity"] = str(ev["quantity"])
        prepared.append(ev)
    return usage_ingest(tenant_id=tenant_id, events=prepared, now=now).accepted


def hours_ago(n: float) -> datetime:
    return timezone.now() - timedelta(hours=n)
