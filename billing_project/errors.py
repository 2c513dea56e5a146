"""The one error shape, and the domain errors every app raises.

Every error the API produces — DRF's, Django's own 404/405/500, malformed JSON — answers
`{"type": "validation_error"|"client_error"|"server_error", "errors": [{"code", "detail", "attr"}]}`
(drf-standardized-errors). Domain errors declare `status_code`, `default_detail` and a stable
`default_code`, e.g. `InvoiceNotDraft(Conflict)` with `default_code = "invoice_not_draft"`.
"""

from __future__ import annotations

import logging
import sys

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """409: the request conflicts with the current state."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class NotFound(exceptions.NotFound):
    default_code = "not_found"


class QuotaExceeded(exceptions.APIException):
    """429: a hard quota would be exceeded."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "A hard quota would be exceeded."
    default_code = "quota_exceeded"


class UpstreamError(exceptions.APIException):
    """502: a provider we depend on (Stripe) failed or could not be reached."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The payment provider could not complete the request."
    default_code = "payment_provider_error"


class ServiceUnavailable(exceptions.APIException):
    """503: the database cannot be reached (down, restarting, connection lost); retry later."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; retry later."
    default_code = "service_unavailable"

    def __init__(self, detail=None, code=None):
        super().__init__(detail, code)
        self.wait = settings.RETRY_AFTER_SECONDS  # the handler sends it as Retry-After


class RequestTooLarge(exceptions.APIException):
    """413: the request body is larger than API_MAX_BODY_BYTES."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self, detail=None, code=None):
        super().__init__(detail or request_too_large_detail(), code)


def request_too_large_detail() -> str:
    """Return the 413 detail, naming the configured limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return f"The request body is larger than the limit of {limit} bytes ({limit / 2**20:g} MiB)."


#: Raised by psycopg (wrapped by Django) when PostgreSQL is down, restarting or drops the connection.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def invalid(attr: str | None, detail: str, code: str = "invalid") -> exceptions.ValidationError:
    """Return a 400 ValidationError naming `attr` (dotted path like "events.3.metric") with `code`."""
    if attr is None:
        return exceptions.ValidationError(exceptions.ErrorDetail(detail, code=code))
    return exceptions.ValidationError({attr: [exceptions.ErrorDetail(detail, code=code)]})


def require_fields(data, *names: str) -> None:
    """Raise one 400 naming every field of `names` missing from the body `data` (PUT replaces: what a
    create requires, a replace requires too)."""
    present = data if isinstance(data, dict) else {}
    missing = [name for name in names if present.get(name) in (None, "")]
    if missing:
        raise exceptions.ValidationError(
            {name: [exceptions.ErrorDetail("This field is required.", code="required")] for name in missing}
        )


class BillingExceptionHandler(ExceptionHandler):
    """drf-standardized-errors, also turning Django's ValidationError into a 400, an unreachable
    database into a 503 and an oversized body into a 413."""

    def convert_known_exceptions(self, exc):
        if isinstance(exc, DjangoValidationError):
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            return exceptions.ValidationError(get_error_detail(DjangoValidationError(detail)))
        if isinstance(exc, DATABASE_UNAVAILABLE):
            return ServiceUnavailable()
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge()
        return super().convert_known_exceptions(exc)

    def report_exception(self, exc, response):
        """Log a 5xx once: the ORIGINAL exception with its traceback when it was unexpected."""
        if response.status_code < 500:
            return
        original = self.exc
        if isinstance(original, exceptions.APIException):
            # A declared 5xx (Stripe down, Stripe not configured) is operational, not a bug: no traceback.
            logger.warning("%s: %s", exc.get_codes(), exc.detail)
        elif isinstance(original, DATABASE_UNAVAILABLE):
            logger.warning("database unavailable (503): %s", original)
        else:
            request = getattr(self.context.get("request"), "_request", None)
            logger.error(
                "Unhandled %s on %s", type(original).__name__, getattr(request, "path", "?"), exc_info=original
            )
            signals.got_request_exception.send(sender=None, request=request)  # error trackers (Sentry)
        response._has_been_logged = True  # Django's request logger would log the same 5xx again


def exception_handler(exc, context):
    """Return the one-shape error response for any exception raised in a DRF view."""
    return BillingExceptionHandler(exc, context).run()


def error_response(status_code: int, code: str, detail: str, attr: str | None = None) -> JsonResponse:
    """Return a plain Django JsonResponse in the one error shape (for non-DRF code paths)."""
    kind = "client_error" if status_code < 500 else "server_error"
    if status_code == 400 and code not in ("parse_error",):
        kind = "validation_error" if attr else "client_error"
    return JsonResponse({"type": kind, "errors": [{"code": code, "detail": detail, "attr": attr}]}, status=status_code)


def handler400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return error_response(413, "request_too_large", request_too_large_detail())
    return error_response(400, "bad_request", "Bad request.")


def handler403(request, exception=None):
    return error_response(403, "permission_denied", "You do not have permission to perform this action.")


def handler404(request, exception=None):
    return error_response(404, "not_found", "Not found.")


def handler500(request):
    """Return the 500 (or, when the database is unreachable, the 503) for an error outside DRF views."""
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):  # Django calls this inside its except block
        response = error_response(503, ServiceUnavailable.default_code, str(ServiceUnavailable.default_detail))
        response["Retry-After"] = str(settings.RETRY_AFTER_SECONDS)
        return response
    return error_response(500, "error", "A server error occurred.")
