"""GET /metrics (Prometheus text format), for loopback clients or the holder of METRICS_TOKEN.

Not part of the API (no JWT, not in the OpenAPI schema). Without METRICS_TOKEN only clients on
the loopback interface are answered (a Prometheus or agent on the same host, a sidecar, a port
forward); with it, only requests bearing `Authorization: Bearer <METRICS_TOKEN>`, from anywhere.
X-Forwarded-For is not trusted: behind a proxy, set a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from billing_project.errors import error_response
from billing_project.observability.collectors import ScrapeTimeCollector


def metrics_allowed(request: HttpRequest) -> bool:
    """Return whether `request` may read the metrics (see the module docstring)."""
    token = settings.METRICS_TOKEN
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def render_metrics() -> bytes:
    """Return every metric in the Prometheus text format (all processes' in multiprocess mode)."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ScrapeTimeCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(merged)
        base = generate_latest(merged)
    else:
        base = generate_latest(REGISTRY)
    return base + generate_latest(scrape)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer GET /metrics."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not metrics_allowed(request):
        return error_response(
            403, "permission_denied", "Metrics are served to loopback clients, or with the METRICS_TOKEN bearer token."
        )
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
