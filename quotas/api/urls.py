"""Routes of this app under /api/v1/billing/, one module per area."""

from quotas.api import quotas

urlpatterns = [
    *quotas.urlpatterns,
]
