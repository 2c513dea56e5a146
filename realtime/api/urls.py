"""Routes of this app under /api/v1/billing/."""

from django.urls import path

from realtime.api.views import (
    AlertDismissView,
    AlertListCreateView,
    CostByResourceView,
    CostTimelineView,
    CurrentCostView,
)

urlpatterns = [
    path("realtime-cost/tenants/<str:tenant_id>/current", CurrentCostView.as_view(), name="realtime-current"),
    path(
        "realtime-cost/tenants/<str:tenant_id>/by-resource", CostByResourceView.as_view(), name="realtime-by-resource"
    ),
    path("realtime-cost/tenants/<str:tenant_id>/timeline", CostTimelineView.as_view(), name="realtime-timeline"),
    path("realtime-cost/tenants/<str:tenant_id>/alerts", AlertListCreateView.as_view(), name="realtime-alerts"),
    path("realtime-cost/alerts/<uuid:alert_id>/dismiss", AlertDismissView.as_view(), name="realtime-alert-dismiss"),
]
