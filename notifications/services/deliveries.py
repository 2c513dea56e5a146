"""Send one webhook delivery attempt, signed by the Standard Webhooks scheme, and schedule the next.

One call = one attempt: claim the due delivery (a conditional UPDATE, so no two workers send the
same attempt), check the URL again (DNS can change), POST the event with a 10 s timeout and no
redirects, record the outcome. A non-2xx answer or an error schedules the next attempt after the
next delay of WEBHOOK_RETRY_SCHEDULE; after the last one the delivery is `failed`. An endpoint
whose deliveries have all failed for WEBHOOK_DISABLE_AFTER_DAYS is disabled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from billing_project.dispatch import job_queue
from billing_project.observability import metrics
from billing_project.url_safety import UnsafeUrl, check_url
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.selectors.events import event_representation

CLAIM_SECONDS = 60  # longer than the POST's timeout: an expired claim means the sender died
ERROR_CHARS = 1000


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response_status: int | None
    error: str
    duration_ms: int


def event_body(delivery: WebhookDelivery) -> str:
    """Return the JSON body POSTed for a delivery: the event object, compact, the same every attempt."""
    return json.dumps(event_representation(delivery.event), separators=(",", ":"), ensure_ascii=False)


def signature_headers(*, endpoint: WebhookEndpoint, msg_id: str, body: str, at: datetime) -> dict[str, str]:
    """Return the Standard Webhooks headers; during a rotation's grace both secrets sign."""
    secrets_in_use = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > at:
        secrets_in_use.append(endpoint.previous_secret)
    signatures = " ".join(Webhook(s).sign(msg_id=msg_id, timestamp=at, data=body) for s in secrets_in_use)
    return {
        "content-type": "application/json",
        "user-agent": "billing-service-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Return the delivery claimed for one attempt, or None when it is not due, done or held."""
    with transaction.atomic():
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        claimed = WebhookDelivery.objects.filter(
            free, pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        ).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1, updated_at=now)
        if not claimed:
            return None
        delivery = WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
        # An attempt left pending by a sender that died is closed before the new one starts.
        WebhookAttempt.objects.filter(
            delivery=delivery, status=WebhookAttempt.Status.PENDING, attempt__lt=delivery.attempts
        ).update(status=WebhookAttempt.Status.FAILED, error="interrupted: the sender stopped before an answer")
        WebhookAttempt.objects.update_or_create(
            delivery=delivery,
            attempt=delivery.attempts,
            defaults={"endpoint_id": delivery.endpoint_id, "created_at": now, "status": WebhookAttempt.Status.PENDING},
        )
    return delivery


def _post(delivery: WebhookDelivery, now: datetime) -> Outcome:
    endpoint = delivery.endpoint
    started = time.monotonic()
    if not endpoint.enabled:
        return Outcome(False, None, "endpoint disabled", 0)
    try:
        check_url(endpoint.url)
    except UnsafeUrl as exc:
        return Outcome(False, None, f"webhook_url_not_allowed: {exc}", 0)
    body = event_body(delivery)
    headers = signature_headers(endpoint=endpoint, msg_id=str(delivery.event.id), body=body, at=now)
    try:
        response = requests.post(
            endpoint.url,
            data=body.encode(),
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        elapsed = int((time.monotonic() - started) * 1000)
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], elapsed)
    elapsed = int((time.monotonic() - started) * 1000)
    if 200 <= response.status_code < 300:
        return Outcome(True, response.status_code, "", elapsed)
    return Outcome(False, response.status_code, f"HTTP {response.status_code}: {response.text[:500]}", elapsed)


def _next_attempt_at(delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> datetime | None:
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if outcome.ok or not delivery.endpoint.enabled or delivery.attempts > len(schedule):
        return None
    return now + timedelta(seconds=schedule[delivery.attempts - 1])


@transaction.atomic
def _record(delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> datetime | None:
    """Store the attempt's outcome; return when the next attempt is due (None: no more attempts)."""
    next_at = _next_attempt_at(delivery, outcome, now)
    if outcome.ok:
        status = WebhookDelivery.Status.SUCCEEDED
    else:
        status = WebhookDelivery.Status.PENDING if next_at else WebhookDelivery.Status.FAILED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, next_attempt_at=next_at, claimed_until=None, updated_at=now
    )
    WebhookAttempt.objects.filter(delivery=delivery, attempt=delivery.attempts).update(
        status=WebhookAttempt.Status.SUCCEEDED if outcome.ok else WebhookAttempt.Status.FAILED,
        response_status=outcome.response_status,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
        next_attempt_at=next_at,
    )
    _record_endpoint_health(delivery.endpoint_id, ok=outcome.ok, now=now)
    metrics.webhook_delivery_recorded("succeeded" if outcome.ok else ("retrying" if next_at else "failed"))
    delivery.status, delivery.next_attempt_at = status, next_at
    return next_at


def _record_endpoint_health(endpoint_id, *, ok: bool, now: datetime) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
    if ok:
        endpoints.update(last_success_at=now, failing_since=None)
        return
    endpoints.filter(failing_since__isnull=True).update(failing_since=now)
    cutoff = now - timedelta(days=settings.WEBHOOK_DISABLE_AFTER_DAYS)
    endpoints.filter(enabled=True, failing_since__lte=cutoff).update(
        enabled=False,
        disabled_at=now,
        disabled_reason=f"Every delivery failed for {settings.WEBHOOK_DISABLE_AFTER_DAYS} days.",
    )


def webhook_delivery_send(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Return the delivery after one attempt, or None when it was not due, already done or held."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    outcome = _post(delivery, now)
    done_at = timezone.now()
    next_at = _record(delivery, outcome, done_at)
    if next_at is not None:
        countdown = max((next_at - done_at).total_seconds(), 1)
        job_queue("notifications.webhook_delivery_send", delivery_id=delivery.pk, countdown=countdown)
    return delivery
