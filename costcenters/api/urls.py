"""Routes of this app under /api/v1/billing/, one module per area."""

from costcenters.api import cost_centers

urlpatterns = [
    *cost_centers.urlpatterns,
]
