"""Reads of webhook endpoints and their delivery attempts."""

from __future__ import annotations

from django.db.models import QuerySet

from notifications.models import Event, WebhookAttempt, WebhookEndpoint


def event_type_matches(patterns: list[str], event_type: str) -> bool:
    """Return whether `event_type` matches one of `patterns` ("*", "invoice.*" or an exact type)."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def endpoint_matches(endpoint: WebhookEndpoint, event: Event) -> bool:
    """Return whether `event` goes to `endpoint`: its tenant (or every tenant) and one of its types."""
    if endpoint.tenant_id is not None and endpoint.tenant_id != event.tenant_id:
        return False
    return event_type_matches(endpoint.event_types, event.type)


def endpoint_list(*, tenant_id: str | None = None) -> QuerySet:
    """Return webhook endpoints, oldest first, optionally of one tenant."""
    qs = WebhookEndpoint.objects.all().order_by("created_at", "id")
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    return qs


def endpoint_attempts(*, endpoint: WebhookEndpoint) -> QuerySet:
    """Return the endpoint's delivery attempts, newest first, with their event."""
    return (
        WebhookAttempt.objects.filter(endpoint=endpoint)
        .select_related("delivery__event")
        .order_by("-created_at", "-attempt", "-pk")
    )
