"""Routes of this app under /api/v1/billing/, one module per area."""

from realtime.api import alerts, cost

urlpatterns = [
    *cost.urlpatterns,
    *alerts.urlpatterns,
]
