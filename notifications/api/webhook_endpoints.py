"""Webhook endpoints (contract section 13): CRUD, rotate-secret and the delivery attempts.

Finance manages endpoints of any tenant, or `tenant_id: null` for every tenant's events; a tenant
manages its own only (another tenant's id, or null, is 403). The secret appears only in the create
answer and in rotate-secret's.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from billing.models.tenant import TENANT_ID_VALIDATOR
from billing_project.errors import NotFound, invalid
from billing_project.fields import InstantField
from billing_project.permissions import Forbidden, scope_to_caller
from notifications.api.events import caller_tenant_filter
from notifications.models import WebhookAttempt, WebhookEndpoint
from notifications.selectors.endpoints import endpoint_attempts, endpoint_list
from notifications.services.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from notifications.services.events import EVENT_TYPES

ROLES = {"finance", "tenant"}
_PREFIXES = {t.split(".")[0] for t in EVENT_TYPES}


class WebhookEndpointSerializer(serializers.ModelSerializer):
    """An endpoint as the API shows it (without its secret)."""

    created_at = InstantField(read_only=True)
    updated_at = InstantField(read_only=True)
    event_types = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "tenant_id", "event_types", "enabled", "created_at", "updated_at"]
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


def _valid_event_type(pattern: str) -> bool:
    if pattern == "*" or pattern in EVENT_TYPES:
        return True
    return pattern.endswith(".*") and pattern[:-2] in _PREFIXES


class WebhookEndpointWriteSerializer(serializers.Serializer):
    """The body of POST /webhook-endpoints and PUT /webhook-endpoints/:id (PUT may omit what it keeps)."""

    url = serializers.URLField(max_length=500)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    tenant_id = serializers.CharField(max_length=64, required=False, allow_null=True, validators=[TENANT_ID_VALIDATOR])
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), default=lambda: ["*"])
    enabled = serializers.BooleanField(required=False, default=True)

    def validate_event_types(self, value: list[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError('Name at least one event type (or "*").', code="required")
        for pattern in value:
            if not _valid_event_type(pattern):
                raise invalid(
                    "event_types",
                    f"Unknown event type '{pattern}' (use a type, a prefix like invoice.*, or *).",
                    "invalid_event_type",
                )
        return list(dict.fromkeys(value))


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    """One delivery attempt of an event to an endpoint."""

    event_id = serializers.UUIDField(source="delivery.event.id")
    event_type = serializers.CharField(source="delivery.event.type")
    created_at = InstantField()
    next_attempt_at = InstantField(allow_null=True)

    class Meta:
        model = WebhookAttempt
        fields = [
            "id",
            "event_id",
            "event_type",
            "attempt",
            "status",
            "response_status",
            "error",
            "created_at",
            "next_attempt_at",
        ]
        read_only_fields = fields


def _endpoint_for_caller(request, endpoint_id) -> WebhookEndpoint:
    endpoint = scope_to_caller(WebhookEndpoint.objects.all(), request).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookEndpointListCreateView(generics.ListAPIView):
    """List endpoints (`?tenant_id=`; a tenant sees its own) or create one."""

    allowed_roles = ROLES
    serializer_class = WebhookEndpointSerializer

    def get_queryset(self):
        return endpoint_list(tenant_id=caller_tenant_filter(self.request))

    @extend_schema(request=WebhookEndpointWriteSerializer, responses={201: WebhookEndpointWithSecretSerializer})
    def post(self, request):
        body = WebhookEndpointWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if request.user.role == "tenant":
            tenant_id = data.get("tenant_id", request.user.tenant_id)
            if tenant_id != request.user.tenant_id:
                raise Forbidden("A tenant may only create webhook endpoints for itself.")
            data["tenant_id"] = tenant_id
        else:
            data.setdefault("tenant_id", None)
        endpoint = webhook_endpoint_create(**data)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(generics.GenericAPIView):
    """Get, update or delete one endpoint."""

    allowed_roles = ROLES
    serializer_class = WebhookEndpointSerializer

    def get(self, request, endpoint_id):
        return Response(WebhookEndpointSerializer(_endpoint_for_caller(request, endpoint_id)).data)

    @extend_schema(request=WebhookEndpointWriteSerializer, responses={200: WebhookEndpointSerializer})
    def put(self, request, endpoint_id):
        endpoint = _endpoint_for_caller(request, endpoint_id)
        body = WebhookEndpointWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if "tenant_id" in data and data.pop("tenant_id") != endpoint.tenant_id:
            raise invalid("tenant_id", "An endpoint cannot move to another tenant.", "tenant_id_immutable")
        endpoint = webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id):
        webhook_endpoint_delete(endpoint=_endpoint_for_caller(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookEndpointRotateSecretView(generics.GenericAPIView):
    """Replace the signing secret; the answer carries the new one (the old one signs for 24 h more)."""

    allowed_roles = ROLES
    serializer_class = WebhookEndpointWithSecretSerializer

    @extend_schema(request=None, responses={200: WebhookEndpointWithSecretSerializer})
    def post(self, request, endpoint_id):
        endpoint = webhook_endpoint_rotate_secret(endpoint=_endpoint_for_caller(request, endpoint_id))
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)


class WebhookDeliveryListView(generics.ListAPIView):
    """The endpoint's delivery attempts, newest first."""

    allowed_roles = ROLES
    serializer_class = DeliveryAttemptSerializer

    def get_queryset(self):
        return endpoint_attempts(endpoint=_endpoint_for_caller(self.request, self.kwargs["endpoint_id"]))


urlpatterns = [
    path("webhook-endpoints", WebhookEndpointListCreateView.as_view(), name="webhook-endpoints"),
    path("webhook-endpoints/<uuid:endpoint_id>", WebhookEndpointDetailView.as_view(), name="webhook-endpoint"),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/rotate-secret",
        WebhookEndpointRotateSecretView.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<uuid:endpoint_id>/deliveries",
        WebhookDeliveryListView.as_view(),
        name="webhook-endpoint-deliveries",
    ),
]
