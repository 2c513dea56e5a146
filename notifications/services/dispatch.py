"""The dispatcher: fans committed events out into webhook deliveries and e-mails, and re-queues work.

`events_dispatch()` runs after every transaction that recorded events and periodically (beat): it
takes unprocessed events oldest first (`FOR UPDATE SKIP LOCKED`, so concurrent dispatchers split
the work), creates one delivery per matching endpoint and the e-mails the event calls for, marks
the events processed in the same transaction, then queues the sends. Deliveries and e-mails are
unique per event, so a dispatcher that dies halfway and runs again creates nothing twice.
`work_sweep()` re-queues deliveries and e-mails that are due but whose task was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing_project.dispatch import job_queue
from notifications.models import EmailMessage, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.selectors.endpoints import endpoint_matches

BATCH = 500
SWEEP_LIMIT = 1000


@dataclass
class DispatchResult:
    events: int = 0
    deliveries: list[int] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


def _fan_out(events: list[Event], endpoints: list[WebhookEndpoint], now: datetime) -> list[WebhookDelivery]:
    rows = [
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
        for event in events
        for endpoint in endpoints
        if endpoint_matches(endpoint, event)
    ]
    if not rows:
        return []
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    # ignore_conflicts returns no ids: read back what exists for these events (ours or a re-run's).
    fresh = list(WebhookDelivery.objects.filter(event__in=events, attempts=0, status=WebhookDelivery.Status.PENDING))
    WebhookAttempt.objects.bulk_create(
        [WebhookAttempt(delivery=d, endpoint_id=d.endpoint_id, attempt=1, created_at=now) for d in fresh],
        ignore_conflicts=True,
    )
    return fresh


@transaction.atomic
def _dispatch_batch(now: datetime) -> DispatchResult:
    from notifications.services.emails import emails_for_event

    events = list(
        Event.objects.select_for_update(skip_locked=True).filter(processed_at__isnull=True).order_by("seq")[:BATCH]
    )
    result = DispatchResult(events=len(events))
    if not events:
        return result
    endpoints = list(WebhookEndpoint.objects.filter(enabled=True))
    result.deliveries = [d.pk for d in _fan_out(events, endpoints, now)]
    for event in events:
        result.emails.extend(str(m.pk) for m in emails_for_event(event=event, now=now))
    Event.objects.filter(seq__in=[e.seq for e in events]).update(processed_at=now)
    return result


def _queue_sends(delivery_ids: list[int], message_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        job_queue("notifications.webhook_delivery_send", delivery_id=delivery_id)
    for message_id in message_ids:
        job_queue("notifications.email_send", message_id=message_id)


def events_dispatch(*, now: datetime | None = None) -> DispatchResult:
    """Fan out every unprocessed event; return what was created (the sends are queued after commit)."""
    total = DispatchResult()
    while True:
        batch = _dispatch_batch(now or timezone.now())
        total.events += batch.events
        total.deliveries += batch.deliveries
        total.emails += batch.emails
        _queue_sends(batch.deliveries, batch.emails)
        if batch.events < BATCH:
            return total


def work_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Queue every due delivery and e-mail nobody holds (lost tasks, eager retries); return the counts."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    deliveries = list(
        WebhookDelivery.objects.filter(free, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    emails = list(
        EmailMessage.objects.filter(free, status=EmailMessage.Status.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    _queue_sends(deliveries, [str(pk) for pk in emails])
    return len(deliveries), len(emails)
