"""Refuse an oversized request body up front: 413 `request_too_large` in the one error shape.

Runs first, before anything reads the body (the Idempotency-Key layer hashes it), so every path
answers the same 413 instead of Django's bare 400 or a 500 from `RequestDataTooBig`. The limit is
`API_MAX_BODY_BYTES` (default 6 MiB: the largest valid batch, 1,000 events with 4 KB of properties
each, is about 4.3 MB).
"""

from __future__ import annotations

from django.conf import settings

from billing_project.errors import error_response, request_too_large_detail


class RequestSizeLimitMiddleware:
    """Answer 413 when Content-Length exceeds DATA_UPLOAD_MAX_MEMORY_SIZE (= API_MAX_BODY_BYTES)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return error_response(413, "request_too_large", request_too_large_detail())
        return self.get_response(request)
