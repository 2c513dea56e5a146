"""The one error shape, and the domain errors every app raises.

Every error the API produces — DRF's, Django's own 404/405/500, malformed JSON — answers
`{"type": "validation_error"|"client_error"|"server_error", "errors": [{"code", "detail", "attr"}]}`
(drf-standardized-errors). Domain errors declare `status_code`, `default_detail` and a stable
`default_code`, e.g. `InvoiceNotDraft(Conflict)` with `default_code = "invoice_not_draft"`.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
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


def invalid(attr: str | None, detail: str, code: str = "invalid") -> exceptions.ValidationError:
    """Return a 400 ValidationError naming `attr` (dotted path like "events.3.metric") with `code`."""
    if attr is None:
        return exceptions.ValidationError(exceptions.ErrorDetail(detail, code=code))
    return exceptions.ValidationError({attr: [exceptions.ErrorDetail(detail, code=code)]})


class BillingExceptionHandler(ExceptionHandler):
    """drf-standardized-errors, also turning Django's ValidationError into a 400."""

    def convert_known_exceptions(self, exc):
        if isinstance(exc, DjangoValidationError):
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            return exceptions.ValidationError(get_error_detail(DjangoValidationError(detail)))
        return super().convert_known_exceptions(exc)

    def report_exception(self, exc, response):
        if response.status_code < 500:
            return
        if isinstance(exc, exceptions.APIException):
            # A declared 5xx (Stripe down, Stripe not configured) is operational, not a bug: no traceback.
            logger.warning("%s: %s", exc.get_codes(), exc.detail)
        else:
            logger.exception("server error", exc_info=exc)


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
    return error_response(400, "bad_request", "Bad request.")


def handler403(request, exception=None):
    return error_response(403, "permission_denied", "You do not have permission to perform this action.")


def handler404(request, exception=None):
    return error_response(404, "not_found", "Not found.")


def handler500(request):
    return error_response(500, "error", "A server error occurred.")
