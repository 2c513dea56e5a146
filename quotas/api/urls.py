"""Routes of this app under /api/v1/billing/."""

from django.urls import path

from quotas.api.views import QuotaCheckView, QuotaCreateView, QuotaDetailView, QuotaListView

urlpatterns = [
    path("quotas", QuotaCreateView.as_view(), name="quota-create"),
    path("quotas/tenants/<str:tenant_id>", QuotaListView.as_view(), name="quota-list"),
    path("quotas/tenants/<str:tenant_id>/check", QuotaCheckView.as_view(), name="quota-check"),
    path("quotas/<uuid:quota_id>", QuotaDetailView.as_view(), name="quota-detail"),
]
