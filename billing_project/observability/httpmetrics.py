"""Request metrics: django-prometheus' request series that operators read, recorded by one lean middleware.

django-prometheus' own pair of middlewares (Before/After) writes 16 samples per request — requests
and responses before middlewares, by method, by transport, body sizes of request and response, by
charset, by status, by status × view × method, two latency histograms — with 8 label look-ups; in
multiprocess mode each write is an mmap update. On a single-event usage POST that was most of what
the metrics cost. `RequestMetricsMiddleware` keeps the series the dashboard, the alert rules and a
person debugging a view use, under django-prometheus' names (so its documentation and the usual
dashboards apply), and writes them through label children bound once per (view, method) and per
status: four writes per request.

- `django_http_requests_total_by_view_transport_method` (view, transport, method)
- `django_http_responses_total_by_status` (status)
- `django_http_requests_latency_seconds_by_view_method` (view, method): from this middleware's entry
  (it is the outermost) to the response, so the other middlewares are included
- `django_http_exceptions_total_by_type` / `_by_view`: exceptions a view raised (rare; not pre-bound)

View names come from the URL configuration (a bounded set), `<unnamed view>` when no route
matched; methods outside the standard ones are `<invalid method>`; statuses are bounded too.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0)
LATENCY_BUCKETS = tuple(getattr(settings, "PROMETHEUS_LATENCY_BUCKETS", _LATENCY_BUCKETS))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"})
UNNAMED_VIEW = "<unnamed view>"

REQUESTS_BY_VIEW = Counter(
    "django_http_requests_total_by_view_transport_method",
    "Count of requests by view, transport, method.",
    ["view", "transport", "method"],
)
RESPONSES_BY_STATUS = Counter("django_http_responses_total_by_status", "Count of responses by status.", ["status"])
LATENCY_BY_VIEW = Histogram(
    "django_http_requests_latency_seconds_by_view_method",
    "Histogram of request processing time (including middlewares) labelled by view.",
    ["view", "method"],
    buckets=LATENCY_BUCKETS,
)
EXCEPTIONS_BY_TYPE = Counter("django_http_exceptions_total_by_type", "Count of exceptions by object type.", ["type"])
EXCEPTIONS_BY_VIEW = Counter("django_http_exceptions_total_by_view", "Count of exceptions by view.", ["view"])

# Label children bound once: the label sets are bounded (views, methods, transports, statuses).
_by_view: dict[tuple[str, str, str], tuple] = {}
_by_status: dict[int, object] = {}


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else None) or UNNAMED_VIEW


def _children(view: str, transport: str, method: str) -> tuple:
    key = (view, transport, method)
    found = _by_view.get(key)
    if found is None:
        found = _by_view[key] = (REQUESTS_BY_VIEW.labels(view, transport, method), LATENCY_BY_VIEW.labels(view, method))
    return found


def _status_child(status: int):
    found = _by_status.get(status)
    if found is None:
        found = _by_status[status] = RESPONSES_BY_STATUS.labels(str(status))
    return found


class RequestMetricsMiddleware:
    """Count each request by view and status and time it (the outermost middleware; settings put it first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "<invalid method>"
        requests, latency = _children(_view_name(request), "https" if request.is_secure() else "http", method)
        requests.inc()
        latency.observe(seconds)
        _status_child(response.status_code).inc()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        EXCEPTIONS_BY_TYPE.labels(type(exception).__name__).inc()
        EXCEPTIONS_BY_VIEW.labels(_view_name(request)).inc()
