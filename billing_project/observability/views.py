"""GET /metrics (Prometheus text format), for loopback clients or the holder of METRICS_TOKEN.

Served by the web (`metrics_view`) and, with WORKER_METRICS_PORT set, by each Celery worker's main
process for its pool (`worker_metrics_serve`, for hosts that run workers without a web process).

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


def metrics_allowed(*, remote_addr: str, authorization: str) -> bool:
    """Return whether a client at `remote_addr` sending `authorization` may read the metrics."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        return ipaddress.ip_address(remote_addr).is_loopback
    except ValueError:
        return False


DENIED = "Metrics are served to loopback clients, or with the METRICS_TOKEN bearer token."


def render_metrics(*, scrape_time_gauges: bool = True) -> bytes:
    """Return every metric in the Prometheus text format (all processes' in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(merged)
        base = generate_latest(merged)
    else:
        base = generate_latest(REGISTRY)
    if not scrape_time_gauges:
        return base
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ScrapeTimeCollector())
    return base + generate_latest(scrape)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer GET /metrics."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    if not metrics_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""), authorization=request.META.get("HTTP_AUTHORIZATION", "")
    ):
        return error_response(403, "permission_denied", DENIED)
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)


def _worker_metrics_app(environ, start_response):
    """WSGI app of the worker exporter: the same access rule, the merged samples of this host's processes."""
    if not metrics_allowed(
        remote_addr=environ.get("REMOTE_ADDR", ""), authorization=environ.get("HTTP_AUTHORIZATION", "")
    ):
        body = error_response(403, "permission_denied", DENIED).content
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    body = render_metrics(scrape_time_gauges=False)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
    return [body]


def worker_metrics_serve(*, addr: str, port: int):
    """Start serving /metrics on addr:port in a daemon thread; return the server (its port is the bound one)."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass

    server = make_server(addr, port, _worker_metrics_app, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
