"""OpenAPI extensions: the bearer-JWT security scheme and the error responses of every operation.

Every operation documents its error statuses in the one error shape (component `Error`), decided
here from what the view can do rather than per view: 400 when it takes any input, 401/403/429 when
it needs a token, 404 when it has path parameters, 409 and 413 when it takes a body, 503 always
(database unavailable). A view may add statuses with `schema_error_statuses = (502,)`.

Request shapes are as strict as validation: decimal strings need a digit (no sign when the field
has `min_value >= 0`), lists carry their minItems/maxItems, and an empty optional query value is
documented as allowed (`allowEmptyValue`), because it is read as absent.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error shape: every 4xx and 5xx answer of the API.",
    "properties": {
        "type": {"type": "string", "enum": ["validation_error", "client_error", "server_error"]},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "stable, machine-readable"},
                    "detail": {"type": "string"},
                    "attr": {"type": "string", "nullable": True, "description": "the field, e.g. events.3.metric"},
                },
                "required": ["code", "detail", "attr"],
            },
        },
    },
    "required": ["type", "errors"],
}
ERROR_DESCRIPTIONS = {
    400: "Invalid input (validation_error) or malformed request (client_error).",
    401: "No token, or an invalid or expired one.",
    403: "Authenticated, but this role or tenant may not do this.",
    404: "Unknown, or belonging to another tenant.",
    409: "Conflicts with the current state (or an Idempotency-Key reused with another body).",
    413: "The request body is too large (request_too_large).",
    429: "A rate limit or hard quota was hit (see Retry-After).",
    502: "The payment provider failed or could not be reached (payment_provider_error).",
    503: "A dependency (the database, or an unconfigured provider) is unavailable (see Retry-After).",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "billing_project.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Claims: sub, role (finance|tenant|service), tenant_id (tenant role), exp.",
        }


class BillingAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses every operation can give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
        for status in self.error_statuses():
            responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
        for code, response in responses.items():
            if code.startswith(("4", "5")) and not response.get("content"):  # declared by a view, shape left out
                response["content"] = {"application/json": {"schema": ref}}
        return responses

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for param in (operation or {}).get("parameters", []):
            if param["in"] == "query" and not param.get("required") and param["name"] not in ("limit", "offset"):
                param["allowEmptyValue"] = True  # `?to=` means no `to`, as django-filter reads it
        return operation

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "response" and field.read_only and model_field_is_nullable(field):
            schema["nullable"] = True  # a nullable column reads as null, whatever the field declares
        if isinstance(field, serializers.DecimalField) and schema.get("format") == "decimal":
            schema["pattern"] = decimal_pattern(field)
            if field.allow_null and direction == "request":  # DRF reads "" as null for these
                schema["pattern"] = f"^(?:{schema['pattern'][1:-1]})?$"
        if isinstance(field, (serializers.ListSerializer, serializers.ListField)) and schema.get("type") == "array":
            if getattr(field, "min_length", None) is not None:
                schema["minItems"] = field.min_length
            if getattr(field, "max_length", None) is not None:
                schema["maxItems"] = field.max_length
        return schema

    def error_statuses(self) -> list[int]:
        """Return the error statuses this operation can answer."""
        method = self.method.upper()
        has_path_params = "{" in self.path
        takes_input = method in BODY_METHODS or has_path_params or bool(self._get_filter_parameters())
        takes_input = takes_input or bool(self._get_pagination_parameters())
        needs_token = bool(self.view.get_authenticators())
        statuses = {503}
        if takes_input:
            statuses.add(400)
        if needs_token:
            statuses |= {401, 403, 429}
        if has_path_params:
            statuses.add(404)
        if method in BODY_METHODS:
            statuses |= {409, 413}
        if method == "DELETE":
            statuses.add(409)
        statuses |= set(getattr(self.view, "schema_error_statuses", ()))
        return sorted(statuses)


def model_field_is_nullable(field) -> bool:
    """Return whether a serializer field reads a nullable model column (`null=True`)."""
    model = getattr(getattr(getattr(field, "parent", None), "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source or field.source == "*":
        return False
    try:
        return bool(model._meta.get_field(field.source).null)
    except FieldDoesNotExist:  # a property or a method, not a column
        return False


def decimal_pattern(field: serializers.DecimalField) -> str:
    """Return the pattern of the decimal strings `field` accepts: at least one digit, no sign when min >= 0."""
    whole = "" if field.max_whole_digits is None else str(field.max_whole_digits)
    places = str(field.decimal_places) if field.decimal_places is not None else ""
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    if field.decimal_places == 0:
        return rf"^{sign}\d{{1,{whole}}}$"
    return rf"^{sign}(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"


def register_error_component(result, generator, request, public):
    """Postprocessing hook: add the `Error` component every error response refers to."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    return result
