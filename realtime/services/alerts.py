"""Alerts: create, dismiss, evaluate against the current period, and deliver signed webhook notices.

`alerts_schedule_evaluation(tenant_id=…)` is called after usage for the tenant commits; it must be
cheap and coalesce bursts into one evaluation per tenant: the first call sets a short-lived cache
key (add = SET NX) and queues the evaluation two seconds later; calls while the key exists do
nothing. The evaluation deletes the key before it reads, so usage arriving during an evaluation
queues the next one. In eager mode (no broker) the evaluation runs at once.

An alert triggers at most once per period, even with concurrent evaluations: the change is a
conditional `UPDATE … WHERE status = 'armed' AND period_start = <current period>`, and only the
evaluation that changed the row records a delivery. Alert.period_start is the period the status
belongs to; an evaluation re-arms triggered and dismissed alerts of an older period.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import Metric, Subscription
from billing.selectors.subscriptions import subscription_live_for_tenant
from billing_project.dispatch import job_queue
from billing_project.errors import Conflict
from billing_project.fields import format_instant, plain_decimal
from billing_project.observability.metrics import alert_triggered_recorded, webhook_delivery_recorded
from billing_project.url_safety import UnsafeUrl, check_url
from notifications.services.events import event_record
from realtime.models import Alert, AlertDelivery

if TYPE_CHECKING:  # a type only: realtime does not import another app's models at run time
    from costcenters.models import CostCenter

PENDING_TTL_SECONDS = 30
EVALUATION_DELAY_SECONDS = 2
WEBHOOK_TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Billing-Signature"
# Background jobs these services queue (registered by realtime.tasks; services never import tasks).
EVALUATE_JOB = "realtime.alerts_evaluate"
DELIVERY_JOB = "realtime.alert_delivery_send"


class AlertNotDismissable(Conflict):
    default_code = "alert_not_dismissable"
    default_detail = "The alert cannot be dismissed in its current state."


class DeliveryFailed(Exception):
    """A webhook attempt failed and should be retried."""


def _pending_key(tenant_id: str) -> str:
    return f"realtime:alerts-evaluation-pending:{tenant_id}"


def _current_period_start(subscription: Subscription | None) -> datetime | None:
    return subscription.current_period_start if subscription is not None else None


@transaction.atomic
def alert_create(
    *,
    tenant_id: str,
    type: str,
    threshold: Decimal,
    metric: Metric | None = None,
    cost_center: CostCenter | None = None,
    webhook_url: str = "",
) -> Alert:
    """Return a new armed alert of `tenant_id` for its current period."""
    from billing.models import Tenant

    tenant, _ = Tenant.objects.get_or_create(id=tenant_id)
    subscription = subscription_live_for_tenant(tenant_id=tenant_id)
    alert = Alert(
        tenant=tenant,
        type=type,
        threshold=threshold,
        metric=metric,
        cost_center=cost_center,
        webhook_url=webhook_url or "",
        period_start=_current_period_start(subscription),
    )
    alert.full_clean()
    alert.save()
    transaction.on_commit(lambda: alerts_schedule_evaluation(tenant_id=tenant_id))
    return alert


@transaction.atomic
def alert_dismiss(*, alert: Alert) -> Alert:
    """Return `alert` dismissed for the current period (it re-arms at the next one); idempotent."""
    period_start = _current_period_start(subscription_live_for_tenant(tenant_id=alert.tenant_id))
    now = timezone.now()
    Alert.objects.filter(pk=alert.pk, status__in=[Alert.Status.ARMED, Alert.Status.TRIGGERED]).update(
        status=Alert.Status.DISMISSED, period_start=period_start, updated_at=now
    )
    alert.refresh_from_db()
    return alert


def alert_payload(alert: Alert) -> dict:
    """Return the JSON notice sent to an alert's webhook when it triggers."""
    return {
        "type": "alert.triggered",
        "alert": {
            "id": str(alert.id),
            "tenant_id": alert.tenant_id,
            "type": alert.type,
            "threshold": plain_decimal(alert.threshold),
            "metric": alert.metric_id,
            "cost_center": alert.cost_center.code if alert.cost_center_id else None,
            "status": alert.status,
            "triggered_at": format_instant(alert.triggered_at),
            "value_at_trigger": plain_decimal(alert.value_at_trigger) if alert.value_at_trigger is not None else None,
            "period_start": format_instant(alert.period_start),
        },
    }


def alerts_schedule_evaluation(*, tenant_id: str) -> None:
    """Queue one (coalesced) evaluation of the tenant's alerts; a no-op for tenants without alerts."""
    if not Alert.objects.filter(tenant_id=tenant_id).exists():
        return
    key = _pending_key(tenant_id)
    if not cache.add(key, 1, timeout=PENDING_TTL_SECONDS):
        return  # an evaluation is already queued and has not started reading yet
    if not job_queue(EVALUATE_JOB, tenant_id=tenant_id, countdown=EVALUATION_DELAY_SECONDS):
        # The broker is down (logged by enqueue); the committed ingest stands, and the next ingest or the
        # periodic evaluation of every tenant queues it again.
        cache.delete(key)


def alerts_evaluation_started(*, tenant_id: str) -> None:
    """Clear the coalescing key, so usage arriving from now on queues the next evaluation."""
    cache.delete(_pending_key(tenant_id))


def alerts_evaluate(*, tenant_id: str, now: datetime) -> list[Alert]:
    """Return the alerts of `tenant_id` that this evaluation triggered (each at most once per period).

    Re-arms triggered and dismissed alerts of an older period first. Without a live subscription
    there is no current period and nothing is evaluated.
    """
    from realtime.selectors.alerts import AlertMeasures

    subscription = subscription_live_for_tenant(tenant_id=tenant_id)
    if subscription is None:
        return []
    period_start = subscription.current_period_start
    older = Q(period_start__lt=period_start) | Q(period_start__isnull=True)
    Alert.objects.filter(older, tenant_id=tenant_id).exclude(status=Alert.Status.ARMED).update(
        status=Alert.Status.ARMED,
        period_start=period_start,
        triggered_at=None,
        value_at_trigger=None,
        updated_at=now,
    )
    Alert.objects.filter(older, tenant_id=tenant_id, status=Alert.Status.ARMED).update(
        period_start=period_start, updated_at=now
    )
    armed = list(
        Alert.objects.filter(tenant_id=tenant_id, status=Alert.Status.ARMED, period_start=period_start)
        .select_related("cost_center")
        .order_by("pk")
    )
    if not armed:
        return []
    measures = AlertMeasures(subscription=subscription, now=now)
    triggered = []
    for alert in armed:
        value = measures.value(alert)
        if value is None or value < alert.threshold:
            continue
        if _alert_trigger(alert=alert, period_start=period_start, value=value, now=now):
            triggered.append(alert)
    return triggered


@transaction.atomic
def _alert_trigger(*, alert: Alert, period_start: datetime, value: Decimal, now: datetime) -> bool:
    """Return whether this call moved `alert` from armed to triggered (and queued its webhook)."""
    changed = Alert.objects.filter(pk=alert.pk, status=Alert.Status.ARMED, period_start=period_start).update(
        status=Alert.Status.TRIGGERED, triggered_at=now, value_at_trigger=value, updated_at=now
    )
    if not changed:
        return False  # another evaluation got there first
    alert.status, alert.triggered_at, alert.value_at_trigger = Alert.Status.TRIGGERED, now, value
    alert_type = alert.type
    transaction.on_commit(lambda: alert_triggered_recorded(alert_type))
    event_record(type="alert.triggered", tenant_id=alert.tenant_id, obj=alert)
    if alert.webhook_url:
        delivery = AlertDelivery.objects.create(alert=alert, payload=alert_payload(alert))
        transaction.on_commit(lambda: _queue_delivery(delivery.pk))
    return True


def _queue_delivery(delivery_id: int) -> None:
    """Queue the webhook POST of one delivery; never fails the evaluation that triggered it (a broker
    outage is logged by enqueue and leaves the delivery row undelivered)."""
    job_queue(DELIVERY_JOB, delivery_id=delivery_id)


#: A delivery not attempted this long after it was created was never queued (broker down) or was lost.
UNSENT_DELIVERY_AGE = timedelta(minutes=10)


def alert_deliveries_requeue(*, now: datetime) -> int:
    """Queue again the deliveries never attempted `UNSENT_DELIVERY_AGE` after creation; return how many."""
    stale = AlertDelivery.objects.filter(
        delivered_at__isnull=True, attempts=0, created_at__lt=now - UNSENT_DELIVERY_AGE
    ).order_by("pk")
    return sum(bool(job_queue(DELIVERY_JOB, delivery_id=pk)) for pk in stale.values_list("pk", flat=True)[:500])


def webhook_signature(*, body: bytes, timestamp: int, secret: str | None = None) -> str:
    """Return the X-Billing-Signature value: `t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">`."""
    secret = settings.ALERT_WEBHOOK_SECRET if secret is None else secret
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def alert_delivery_send(*, delivery_id: int, final_attempt: bool) -> AlertDelivery:
    """Return the delivery after one signed POST of its payload to the alert's webhook.

    Raises DeliveryFailed (so the task retries with backoff) unless this is the final attempt.
    """
    delivery = AlertDelivery.objects.select_related("alert").get(pk=delivery_id)
    if delivery.delivered_at is not None:
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(timezone.now().timestamp())
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: webhook_signature(body=body, timestamp=timestamp)}
    status, error = None, ""
    try:
        check_url(delivery.alert.webhook_url)  # again at delivery: DNS can change
        response = requests.post(
            delivery.alert.webhook_url,
            data=body,
            headers=headers,
            timeout=WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:500]}"
    except UnsafeUrl as exc:
        error = f"webhook_url_not_allowed: {exc}"[:1000]
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    fields = {"attempts": delivery.attempts + 1, "last_status": status, "last_error": error}
    if not error:
        fields["delivered_at"] = timezone.now()
    AlertDelivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    webhook_delivery_recorded(
        "failed" if error and final_attempt else "retrying" if error else "succeeded", kind="alert"
    )
    if error and not final_attempt:
        raise DeliveryFailed(error)
    return delivery
