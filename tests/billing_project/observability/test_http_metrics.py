"""Request metrics (observability/httpmetrics.py): django-prometheus' series operators read, four writes a request."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, RequestFactory

from billing_project.observability.httpmetrics import RequestMetricsMiddleware

pytestmark = pytest.mark.django_db
LATENCY = "django_http_requests_latency_seconds_by_view_method"


def test_a_request_is_counted_by_view_and_status_and_timed(scrape):
    before = scrape()
    assert Client().get("/health/live").status_code == 200
    after = scrape()
    assert after.since(before, "django_http_requests_total_by_view_transport_method_total", view="health-live") == 1
    assert after.since(before, "django_http_requests_total_by_view_transport_method_total", transport="http") >= 1
    assert after.since(before, f"{LATENCY}_count", view="health-live", method="GET") == 1
    assert after.since(before, f"{LATENCY}_sum", view="health-live", method="GET") > 0
    assert after.since(before, "django_http_responses_total_by_status_total", status="200") >= 1


def test_an_unrouted_path_is_an_unnamed_view_with_its_status(scrape):
    before = scrape()
    assert Client().get("/no/such/page").status_code == 404
    after = scrape()
    name = "django_http_requests_total_by_view_transport_method_total"
    assert after.since(before, name, view="<unnamed view>", method="GET") == 1
    assert after.since(before, "django_http_responses_total_by_status_total", status="404") == 1


def test_odd_methods_share_one_label(scrape):
    before = scrape()
    Client().generic("BREW", "/health/live")
    after = scrape()
    assert after.since(before, f"{LATENCY}_count", view="health-live", method="<invalid method>") == 1


def test_a_view_exception_is_counted_by_type_and_view(scrape):
    request = RequestFactory().get("/health/live")
    request.resolver_match = None
    before = scrape()
    RequestMetricsMiddleware(lambda r: None).process_exception(request, KeyError("x"))
    after = scrape()
    assert after.since(before, "django_http_exceptions_total_by_type_total", type="KeyError") == 1
    assert after.since(before, "django_http_exceptions_total_by_view_total", view="<unnamed view>") == 1


def test_the_lean_middleware_replaces_django_prometheus_pair_and_is_outermost():
    assert settings.MIDDLEWARE[0] == "billing_project.observability.httpmetrics.RequestMetricsMiddleware"
    assert not any(m.startswith("django_prometheus.middleware") for m in settings.MIDDLEWARE)
