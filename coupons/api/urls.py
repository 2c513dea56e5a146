"""Routes of this app under /api/v1/billing/, one module per area."""

from coupons.api import coupons

urlpatterns = [
    *coupons.urlpatterns,
]
