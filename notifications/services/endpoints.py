"""Webhook endpoints: create, update, delete, rotate the secret, send a test event."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from billing_project.dispatch import job_queue
from billing_project.url_safety import validate_webhook_url
from notifications.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
EDITABLE_FIELDS = ("url", "description", "event_types", "enabled")


def new_secret() -> str:
    """Return a fresh signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@transaction.atomic
def webhook_endpoint_create(
    *,
    url: str,
    tenant_id: str | None,
    event_types: list[str],
    description: str = "",
    enabled: bool = True,
    local_demo: bool = False,
) -> WebhookEndpoint:
    """Return a new endpoint with a fresh secret (the URL must be public unless allowed otherwise).

    `local_demo` skips the address check at save time for the demo's receiver on 127.0.0.1 (it is
    still checked at delivery, where WEBHOOK_ALLOW_PRIVATE_URLS decides).
    """
    if not local_demo:
        validate_webhook_url(url)
    endpoint = WebhookEndpoint(
        url=url,
        tenant_id=tenant_id,
        event_types=event_types,
        description=description,
        enabled=enabled,
        secret=new_secret(),
    )
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    """Return `endpoint` with the given fields changed; re-enabling it clears its failure record."""
    for name, value in fields.items():
        if name not in EDITABLE_FIELDS:
            raise TypeError(f"{name} is not an editable field of a webhook endpoint")
        setattr(endpoint, name, value)
    if "url" in fields:
        validate_webhook_url(endpoint.url)
    if fields.get("enabled"):
        endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete `endpoint` with its deliveries: nothing more is sent to it."""
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Return `endpoint` with a new secret; the old one also signs for 24 hours (two signatures)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + PREVIOUS_SECRET_GRACE
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Return a delivery of a `webhook_endpoint.test` event to this endpoint only (sent after commit)."""
    from notifications.models import Event
    from notifications.services.events import TEST_EVENT_TYPE

    now = timezone.now()
    event = Event.objects.create(
        type=TEST_EVENT_TYPE,
        tenant_id=endpoint.tenant_id,
        data={"object": {"endpoint_id": str(endpoint.id), "url": endpoint.url}},
        created_at=now,
        processed_at=now,  # not fanned out: it is meant for this endpoint alone
    )
    delivery = WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=now)
    WebhookAttempt.objects.create(delivery=delivery, endpoint=endpoint, attempt=1, created_at=now)
    transaction.on_commit(lambda: job_queue("notifications.webhook_delivery_send", delivery_id=delivery.pk))
    return delivery
