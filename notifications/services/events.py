"""Record events in the caller's transaction, and purge old ones.

`event_record(type=…, tenant_id=…, obj=…)` is the one function the services call, inside the
transaction of the change: the event row commits or rolls back with it. `data.object` is the
object rendered by the serializer its app registered in billing_project.events_registry, so it
is exactly what the API returns for the object at that moment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billing_project.dispatch import job_queue
from billing_project.events_registry import render
from notifications.models import Event

EVENT_TYPES = (
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "credit_note.created",
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "payment_method.updated",
    "quota.warning",
    "quota.exceeded",
    "alert.triggered",
)
TEST_EVENT_TYPE = "webhook_endpoint.test"


def _schedule_dispatch() -> None:
    # One dispatch per transaction, however many events it records (an invoice run records thousands).
    # A callback that already ran (kept in the list by test helpers) does not count.
    for entry in getattr(connection, "run_on_commit", []):
        if getattr(entry[1], "dispatches_events", False) and not entry[1].ran:
            return

    def dispatch() -> None:
        dispatch.ran = True  # type: ignore[attr-defined]
        job_queue("notifications.events_dispatch")

    dispatch.dispatches_events = True  # type: ignore[attr-defined]
    dispatch.ran = False  # type: ignore[attr-defined]
    transaction.on_commit(dispatch)


def event_record(*, type: str, tenant_id: str | None, obj: Any, data: dict | None = None) -> Event:
    """Return the event of `type` about `obj`, written in the current transaction.

    Its webhooks and e-mails go out after the transaction commits; nothing does if it rolls back.
    """
    if type not in EVENT_TYPES and type != TEST_EVENT_TYPE:
        raise ValueError(f"unknown event type {type!r}")
    payload = {"object": render(obj) if data is None else data}
    event = Event.objects.create(type=type, tenant_id=tenant_id, data=payload, created_at=timezone.now())
    _schedule_dispatch()
    return event


def events_purge(*, now: Any = None) -> int:
    """Delete events older than BILLING_EVENT_RETENTION_DAYS (with their deliveries); return how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BILLING_EVENT_RETENTION_DAYS)
    _, per_model = Event.objects.filter(created_at__lt=cutoff).delete()
    return per_model.get(Event._meta.label, 0)


def events_mark_processed(*, before: Any) -> int:
    """Mark unprocessed events created before `before` as processed without sending anything; return how many.

    For history that is not news (the demo's replayed months): nobody was listening back then.
    """
    return Event.objects.filter(processed_at__isnull=True, created_at__lt=before).update(processed_at=timezone.now())
