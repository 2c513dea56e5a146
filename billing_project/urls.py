"""Top-level routes: the API under /api/v1/billing/, auth, health, schema, docs and the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing_project.observability.views import metrics_view
from billing_project.views import HealthView, LiveView, ReadyView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),  # no inline script (CSP)
    path("api/v1/auth/", include("billing.api.auth")),
    path("api/v1/billing/", include("billing.api.urls")),
    path("api/v1/billing/", include("coupons.api.urls")),
    path("api/v1/billing/", include("costcenters.api.urls")),
    path("api/v1/billing/", include("quotas.api.urls")),
    path("api/v1/billing/", include("realtime.api.urls")),
    path("api/v1/billing/", include("notifications.api.urls")),
    path("admin/", admin.site.urls),
]

if settings.BENCH_VIEWS:  # benchmark-only routes (bench/urls.py), off in production
    urlpatterns.append(path("bench/", include("bench.urls")))

handler400 = "billing_project.errors.handler400"
handler403 = "billing_project.errors.handler403"
handler404 = "billing_project.errors.handler404"
handler500 = "billing_project.errors.handler500"
