"""The event log (contract section 13): GET /events and GET /events/:eventId.

Finance sees every tenant's events (`?tenant_id=` narrows); a tenant sees only its own. Oldest
first, so a client catches up with `?after=<the last id it saw>`.
"""

from __future__ import annotations

import uuid

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from billing_project.errors import NotFound, invalid
from billing_project.fields import parse_instant
from billing_project.permissions import ensure_tenant_access
from notifications.selectors.events import event_get, event_list, event_representation

READ_ROLES = {"finance", "tenant"}


class EventDataSerializer(serializers.Serializer):
    object = serializers.DictField(help_text="The object as the API shows it at the time of the event.")


class EventSerializer(serializers.Serializer):
    """The event object; rendering is `event_representation`, the same dict every webhook POSTs."""

    id = serializers.UUIDField()
    type = serializers.CharField()
    tenant_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    data = EventDataSerializer()

    def to_representation(self, instance):
        return event_representation(instance)


def caller_tenant_filter(request) -> str | None:
    """Return the tenant a list is limited to: a tenant's own, or finance's `?tenant_id=`."""
    wanted = request.query_params.get("tenant_id") or None
    if request.user.role == "tenant":
        if wanted is not None:
            ensure_tenant_access(request, wanted)
        return request.user.tenant_id
    return wanted


class EventListView(generics.ListAPIView):
    """List events oldest first; filters `?type=` (exact or `invoice.*`), `?tenant_id=`, `?created_after=`,
    `?after=<event id>`."""

    allowed_roles = READ_ROLES
    serializer_class = EventSerializer

    def get_queryset(self):
        params = self.request.query_params
        tenant_id = caller_tenant_filter(self.request)
        created_after = params.get("created_after")
        after = params.get("after")
        cursor = None
        if after:
            try:
                cursor = event_get(event_id=uuid.UUID(after), tenant_id=tenant_id)
            except ValueError:
                cursor = None
            if cursor is None:
                raise invalid("after", f"Unknown event id '{after[:64]}'.", "invalid_cursor")
        return event_list(
            tenant_id=tenant_id,
            type=(params.get("type") or "")[:64] or None,
            created_after=parse_instant(created_after, "created_after") if created_after else None,
            after=cursor,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("type", OpenApiTypes.STR, description="An event type, or a prefix such as invoice.*"),
            OpenApiParameter("tenant_id", OpenApiTypes.STR),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("after", OpenApiTypes.UUID, description="Only events after this one (a cursor)."),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class EventDetailView(generics.GenericAPIView):
    """One event (another tenant's is 404)."""

    allowed_roles = READ_ROLES
    serializer_class = EventSerializer

    def get(self, request, event_id):
        tenant_id = request.user.tenant_id if request.user.role == "tenant" else None
        event = event_get(event_id=event_id, tenant_id=tenant_id)
        if event is None:
            raise NotFound("No such event.")
        return Response(event_representation(event))


urlpatterns = [
    path("events", EventListView.as_view(), name="events"),
    path("events/<uuid:event_id>", EventDetailView.as_view(), name="event-detail"),
]
