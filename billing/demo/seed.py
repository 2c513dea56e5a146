"""Demo data for `seed_demo`: a dozen tenants with four months of history, so a new user sees real numbers.

The history is replayed through the real services in time order with the clock set to each moment
(`clock` in clock.py): subscriptions start about four months ago (back-dated, at 09:00 UTC), usage arrives hour
by hour with a business-hours shape, weekday peaks, weekend dips and a growth trend, the invoice
run bills each period an hour after it ends, customers pay some days later, one tenant upgrades
mid-period, one pauses, one cancels at period end, one invoice is voided and reissued with a
goodwill credit and one is left unpaid past its due date. Every row is therefore one the services
themselves wrote, with the timestamps a real deployment would have (finalized_at, due_at, paid_at,
invoice numbers of the right year). Usage for a period is always ingested before it is invoiced.

Randomness comes from `random.Random` seeded with tenant and hour, so an hour's events are the same
on every run; event ids are derived from tenant, metric and hour, so a re-ingest is deduplicated.

Idempotent: tenants, users, coupons and cost centers are created only when missing; a tenant's
history is replayed only while it has no subscription; quotas and alerts only when the tenant has
none of that kind. A second run changes nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing.demo.clock import clock
from billing.demo.cloud import seed_cloud_tenant
from billing.demo.collection import demo_collection
from billing.demo.notifications import DEMO_WEBHOOK_URL, seed_notifications
from billing.demo.replay import Replay, start_of, subscribe
from billing.demo.tenants import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    COST_CENTER_DETAILS,
    COUPONS,
    DAY,
    DEMO_TENANTS,
    TENANT_PASSWORD,
    TENANT_USER,
    TENANT_USER_TENANT,
)
from billing.models import Metric, Plan, Subscription, Tenant, TenantUser
from billing.services.credits import credit_grant_create
from billing.services.subscriptions import subscription_roll_if_due


def _seed_tenants() -> int:
    """Return how many demo tenants were created (existing ones are left as they are)."""
    created = 0
    for spec in DEMO_TENANTS:
        _, was_created = Tenant.objects.get_or_create(
            id=spec.id,
            defaults={
                "name": spec.name,
                "email": spec.email,
                "address": spec.address,
                "tax_rate": Decimal(spec.tax_rate),
            },
        )
        created += was_created
    return created


def _seed_users() -> None:
    User = get_user_model()
    admin, created = User.objects.get_or_create(username=ADMIN_USER, defaults={"is_staff": True, "is_superuser": True})
    if created:
        admin.set_password(ADMIN_PASSWORD)
        admin.save()
    user, created = User.objects.get_or_create(username=TENANT_USER, defaults={"email": "ops@acme.example"})
    if created:
        user.set_password(TENANT_PASSWORD)
        user.save()
    TenantUser.objects.get_or_create(user=user, defaults={"tenant_id": TENANT_USER_TENANT})


def _seed_coupons(at: datetime) -> int:
    from coupons.selectors.coupons import coupon_by_code
    from coupons.services.coupons import coupon_create

    created = 0
    with clock(at):
        for terms in COUPONS:
            if coupon_by_code(code=terms["code"]) is None:
                coupon_create(**terms)
                created += 1
    return created


def _seed_cost_centers(at: datetime) -> int:
    from costcenters.selectors.cost_centers import cost_center_codes
    from costcenters.services.cost_centers import cost_center_create

    created = 0
    with clock(at):
        for spec in DEMO_TENANTS:
            existing = cost_center_codes(tenant_id=spec.id)
            for code in dict.fromkeys(spec.cost_centers.values()):
                if code in existing:
                    continue
                name, budget, owner = COST_CENTER_DETAILS[code]
                cost_center_create(
                    tenant_id=spec.id,
                    code=code,
                    name=name,
                    budget=budget,
                    currency="USD",
                    owner_email=f"{owner}@{spec.id}.example",
                    description=f"Monthly budget {budget} USD",
                )
                created += 1
    return created


def _seed_history(now: datetime) -> Replay | None:
    """Return the replay of every demo tenant without a subscription yet (None when there is none)."""
    have = set(
        Subscription.objects.filter(tenant_id__in=[s.id for s in DEMO_TENANTS]).values_list("tenant_id", flat=True)
    )
    todo = [s for s in DEMO_TENANTS if s.id not in have]
    if not todo:
        return None
    r = Replay(now=now)
    for spec in todo:
        r.at(start_of(spec, now), subscribe, spec)
    r.run()
    with clock(now):
        for feed in r.feeds.values():
            feed.ingest_until(now)
        for sub in r.subs.values():  # what the periodic roll does: trials that ended become active
            subscription_roll_if_due(subscription=Subscription.objects.select_related("plan").get(pk=sub.pk), at=now)
    return r


def _seed_quotas() -> int:
    from quotas.selectors.quotas import quota_list
    from quotas.services.quotas import quota_create

    wanted = [
        ("acme", "api_calls", Decimal("2500000"), "month", "soft"),
        ("acme", "jobs", Decimal("2000"), "day", "hard"),
        ("globex", "api_calls", Decimal("12000000"), "billing_period", "soft"),
    ]
    created = 0
    for tenant_id, metric, limit, period, enforcement in wanted:
        if quota_list(tenant_id=tenant_id).filter(metric_id=metric, enforcement=enforcement).exists():
            continue
        quota_create(
            tenant_id=tenant_id,
            metric=Metric.objects.get(pk=metric),
            limit=limit,
            period=period,
            enforcement=enforcement,
        )
        created += 1
    return created


def _seed_alerts() -> int:
    from costcenters.selectors.cost_centers import cost_center_live
    from realtime.selectors.alerts import alert_list
    from realtime.services.alerts import alert_create

    created = 0
    wanted = [
        ("acme", "cost_threshold", Decimal("600"), None),
        ("acme", "budget_percent", Decimal("80"), "platform"),
        ("globex", "cost_threshold", Decimal("2000"), None),
    ]
    for tenant_id, kind, threshold, center_code in wanted:
        if alert_list(tenant_id=tenant_id).filter(type=kind).exists():
            continue
        center = cost_center_live().get(tenant_id=tenant_id, code=center_code) if center_code else None
        alert_create(tenant_id=tenant_id, type=kind, threshold=threshold, cost_center=center)
        created += 1
    return created


@transaction.atomic
def _seed_after_history(replay, now: datetime, done) -> None:
    """Grant today's goodwill credit and tell the collection story, once the history was replayed."""
    # A goodwill credit granted today, so a balance shows on acme's subscription and preview.
    credit_grant_create(
        subscription=replay.subs["acme"],
        amount=Decimal("25.00"),
        reason="Service credit: API latency incident",
        expires_at=now + timedelta(days=60),
    )
    replay.counts["credits"] += 1
    with clock(now):
        story = demo_collection(now=now)
    done(
        f"collection: {story['charged']} invoices paid by acme's saved card, {story['dunning']} in dunning "
        f"(initech), credit note {story['credit_note']} with a refund"
    )
    events = sum(f.events for f in replay.feeds.values())
    c = replay.counts
    done(
        f"history of {len(replay.subs)} tenants: {events} usage events, {c['invoices']} invoices "
        f"({c['paid']} paid, {c['void']} void), {c['credits']} credit grants"
    )


def demo_seed(*, progress=None, now: datetime | None = None) -> dict:
    """Return login details after creating the demo tenants, users and history (idempotent).

    Needs the demo catalog (`billing/fixtures/demo_catalog.json`) loaded. `now` (default: the current
    time) is the end of the replayed history; tests pass a fixed one.
    """
    say = progress or (lambda m: None)
    t0 = time.monotonic()

    def done(message: str) -> None:
        say(f"{message} ({time.monotonic() - t0:.1f}s)")

    now = (now or timezone.now()).astimezone(UTC)
    missing = {s.plan for s in DEMO_TENANTS} - set(Plan.objects.values_list("id", flat=True))
    if missing:
        raise RuntimeError(f"Load the demo catalog first: plans {', '.join(sorted(missing))} are missing.")
    created = _seed_tenants()
    done(f"tenants: {len(DEMO_TENANTS)} ({created} new)")
    _seed_users()
    done(f"users: '{ADMIN_USER}' (finance), '{TENANT_USER}' (tenant {TENANT_USER_TENANT})")
    opening = min(start_of(s, now) for s in DEMO_TENANTS) - DAY
    done(f"coupons: {len(COUPONS)} ({_seed_coupons(opening)} new)")
    done(f"cost centers: {_seed_cost_centers(opening)} new")
    replay = _seed_history(now)
    if replay is None:
        done("history: already there (every demo tenant has a subscription)")
    else:
        _seed_after_history(replay, now, done)
    if seed_cloud_tenant(now):
        done("cloud tenant 'stratos': GB-month storage, CPU/GPU hours, negotiated prices, a setup fee, a minimum")
    done(f"quotas: {_seed_quotas()} new")
    done(f"alerts: {_seed_alerts()} new")
    told = seed_notifications(now=now)
    done(
        f"events: webhook endpoint {DEMO_WEBHOOK_URL} (secret in .data/demo-webhook-secret), "
        f"{told['billing_emails']} billing e-mails set, {told['history_events']} history events marked sent"
    )
    return {
        "admin_user": ADMIN_USER,
        "admin_password": ADMIN_PASSWORD,
        "tenant_user": TENANT_USER,
        "tenant_password": TENANT_PASSWORD,
        "tenant_id": TENANT_USER_TENANT,
    }
