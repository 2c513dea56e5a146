"""Reads of the event log: the event as the API (and every webhook body) shows it, and the list."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from billing_project.fields import format_instant
from notifications.models import Event


def event_representation(event: Event) -> dict:
    """Return the event object of the contract: what GET /events/:id returns and webhooks POST."""
    return {
        "id": str(event.id),
        "type": event.type,
        "tenant_id": event.tenant_id,
        "created_at": format_instant(event.created_at),
        "data": event.data,
    }


def event_list(
    *,
    tenant_id: str | None = None,
    type: str | None = None,
    created_after: datetime | None = None,
    after: Event | None = None,
) -> QuerySet:
    """Return events oldest first, filtered by tenant, type (exact or "invoice.*"), time and cursor."""
    qs = Event.objects.all().order_by("seq")
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    if type and type != "*":
        qs = qs.filter(type__startswith=type[:-1]) if type.endswith(".*") else qs.filter(type=type)
    if created_after is not None:
        qs = qs.filter(created_at__gt=created_after)
    if after is not None:
        qs = qs.filter(seq__gt=after.seq)
    return qs


def event_get(*, event_id, tenant_id: str | None = None) -> Event | None:
    """Return the event `event_id` (None when unknown or, for a tenant, another tenant's)."""
    qs = Event.objects.filter(id=event_id)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs.first()
