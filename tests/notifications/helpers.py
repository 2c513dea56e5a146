"""Helpers of the notifications tests: record an event the way a service does, and commit it."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction


def make_alert(tenant_id: str):
    from billing.models import Tenant
    from realtime.models import Alert

    tenant, _ = Tenant.objects.get_or_create(id=tenant_id)
    return Alert.objects.create(tenant=tenant, type="cost_threshold", threshold=Decimal("10"))


def record(tenant_id: str, type: str = "alert.triggered"):
    """Return an event about a fresh alert of `tenant_id`, recorded in its own transaction."""
    from notifications.services.events import event_record

    with transaction.atomic():
        alert = make_alert(tenant_id)
        return event_record(type=type, tenant_id=tenant_id, obj=alert)
