"""Refuse what no view should see, up front and in the one error shape.

Runs first, before anything reads the body (the Idempotency-Key layer hashes it):
- a body over `API_MAX_BODY_BYTES` (default 6 MiB: the largest valid batch, 1,000 events with 4 KB
  of properties each, is about 4.3 MB) → 413 `request_too_large`;
- a URL (path and query) over `API_MAX_URL_BYTES` (4,096) → 414 `uri_too_long`;
- a header over `API_MAX_HEADER_BYTES` (8,192) → 431 `request_header_fields_too_large`;
- a NUL character in the path or query string → 400 `null_characters_not_allowed`.
gunicorn is started with limits ABOVE these (Makefile), so the app, not gunicorn's HTML page, answers
everything up to gunicorn's own hard limits (README, "Reliability and security").
"""

from __future__ import annotations

from django.conf import settings

from billing_project.errors import error_response, request_too_large_detail


class RequestLimitsMiddleware:
    """Answer 413/414/431/400 in the error shape for oversized or NUL-carrying requests."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.refusal(request) or self.get_response(request)

    @staticmethod
    def refusal(request):
        """Return the error response for a request over a limit, else None."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return error_response(413, "request_too_large", request_too_large_detail())
        url_limit = settings.API_MAX_URL_BYTES
        if len(request.META.get("PATH_INFO", "")) + len(request.META.get("QUERY_STRING", "")) > url_limit:
            return error_response(414, "uri_too_long", f"The URL is longer than the limit of {url_limit} bytes.")
        header_limit = settings.API_MAX_HEADER_BYTES
        for name, value in request.META.items():
            if name.startswith("HTTP_") and isinstance(value, str) and len(value) > header_limit:
                header = name[5:].replace("_", "-").title()
                return error_response(
                    431,
                    "request_header_fields_too_large",
                    f"The {header} header is longer than the limit of {header_limit} bytes.",
                    header,
                )
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return error_response(400, "null_characters_not_allowed", "NUL characters are not allowed in the URL.")
        return None
