"""The request id and the one log line per request.

`RequestLogMiddleware` takes the request id from `X-Request-ID` (or makes one), echoes it in the
response, keeps it (with the path) in the log context for the request's duration, and writes one
line per request (logger `billing.request`, INFO) with method, path, status, duration, tenant id
and the principal's sub and role — filled in once the view has authenticated the caller.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.http import HttpRequest, HttpResponse

from billing_project.observability.logformat import log_context

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
request_logger = logging.getLogger("billing.request")


def request_id_from(request: HttpRequest) -> str:
    """Return the caller's X-Request-ID when it is a sane token (≤ 128 safe characters), else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex


def _principal(request: HttpRequest) -> tuple[str | None, str | None, str | None]:
    """Return (sub, role, tenant_id) of whoever the request authenticated as (DRF sets request.user)."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None, None, None
    if hasattr(user, "role"):  # a JWT principal
        return user.sub, user.role, user.tenant_id
    return user.get_username(), "staff", None  # a back-office (admin session) user


class RequestLogMiddleware:
    """Request id in and out, request context for log lines, one log line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request)
        request.request_id = request_id
        context = {"request_id": request_id, "path": request.path}
        token = log_context.set(context)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if request_logger.isEnabledFor(logging.INFO):
                self._log(request, response.status_code, context, time.perf_counter() - started)
            return response
        finally:
            log_context.reset(token)

    @staticmethod
    def _log(request: HttpRequest, status: int, context: dict, seconds: float) -> None:
        sub, role, own_tenant = _principal(request)
        match = getattr(request, "resolver_match", None)
        tenant_id = (match.kwargs.get("tenant_id") if match else None) or own_tenant
        context.update(tenant_id=tenant_id, sub=sub, role=role)
        request_logger.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            status,
            seconds * 1000,
            extra={"method": request.method, "status": status, "duration_ms": round(seconds * 1000, 2)},
        )
