"""The demo's cloud tenant: section 14's pricing on one enterprise account.

Stratos Cloud Labs is on Cloud Enterprise since 20 days ago: two storage buckets report their size
every 6 hours (priced in GB-months, `weighted_sum`), three VMs report compute hours (CPU hours and
GPU hours priced apart by a charge filter), finance negotiated prices five days in (a lower base
price and GPU rate: the period is cut there), a setup fee waits for the next invoice, and the plan's
$1,500 monthly minimum commitment tops up what usage does not reach.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from billing.demo.clock import clock
from billing.models import Subscription, Tenant
from billing.services.subscriptions import subscription_create
from billing.services.terms import one_off_charge_create, price_override_set
from billing.services.usage import MAX_BATCH, usage_ingest

TENANT, PLAN, DAYS = "stratos", "cloud-enterprise", 20
HOUR = timedelta(hours=1)
NEGOTIATED = [
    {
        "metric": "compute_hours",
        "model": "per_unit",
        "unit_price": "0.08",
        "filters": [{"name": "GPU", "properties": {"type": ["gpu"]}, "model": "per_unit", "unit_price": "1.90"}],
    }
]


def _hour_events(hour: datetime, day: float) -> list[dict]:
    """Return the events of one hour: compute hours per VM, and bucket sizes every 6 hours."""
    stamp = hour.strftime("%Y%m%d%H")
    at = hour.isoformat()
    events = [
        {
            "event_id": f"demo-stratos-cpu-{vm}-{stamp}",
            "metric": "compute_hours",
            "quantity": "1",
            "timestamp": at,
            "resource_id": vm,
            "properties": {"type": "cpu"},
        }
        for vm in ("vm-cpu-1", "vm-cpu-2")
    ]
    if hour.weekday() < 5 and 8 <= hour.hour < 20:  # the GPU box trains models in working hours
        events.append(
            {
                "event_id": f"demo-stratos-gpu-{stamp}",
                "metric": "compute_hours",
                "quantity": "1",
                "timestamp": at,
                "resource_id": "vm-gpu-1",
                "properties": {"type": "gpu", "model": "a100"},
            }
        )
    if hour.hour % 6 == 0:
        sizes = {"bkt-logs": 800 + 5 * day, "bkt-media": 2400 if day < 8 else 3100}
        events += [
            {
                "event_id": f"demo-stratos-{bucket}-{stamp}",
                "metric": "storage_gb_month",
                "quantity": f"{size:.2f}",
                "timestamp": at,
                "resource_id": bucket,
            }
            for bucket, size in sizes.items()
        ]
    return events


def seed_cloud_tenant(now: datetime) -> bool:
    """Return True after creating the cloud tenant's history, False when it already has a subscription."""
    if Subscription.objects.filter(tenant_id=TENANT).exists():
        return False
    Tenant.objects.update_or_create(
        id=TENANT,
        defaults={
            "name": "Stratos Cloud Labs",
            "email": "billing@stratos.example",
            "address": "1 Orbital Way\nSeattle, WA 98101\nUSA",
        },
    )
    start = (now - timedelta(days=DAYS)).replace(hour=9, minute=0, second=0, microsecond=0)
    with clock(start):
        sub = subscription_create(tenant_id=TENANT, plan_id=PLAN, start_date=start)
    hour, batch = start, []
    negotiated_at = start + timedelta(days=5)
    while hour + HOUR <= now:
        if hour == negotiated_at:
            _flush(batch, hour)
            batch = []
            with clock(hour):
                price_override_set(subscription=sub, base_price=Decimal("150.00"), charges=NEGOTIATED)
        batch += _hour_events(hour, (hour - start) / timedelta(days=1))
        if len(batch) >= MAX_BATCH - 10:
            _flush(batch, hour + HOUR)
            batch = []
        hour += HOUR
    _flush(batch, now)
    with clock(now):
        one_off_charge_create(subscription=sub, description="Onboarding and setup fee", amount=Decimal("500.00"))
    return True


def _flush(events: list[dict], now: datetime) -> None:
    if events:
        usage_ingest(tenant_id=TENANT, events=events, now=now)
