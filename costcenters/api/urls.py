"""Routes of this app under /api/v1/billing/."""

from django.urls import path

from costcenters.api.views import CostCenterCreateView, CostCenterDetailView, CostCenterListView

urlpatterns = [
    path("cost-centers", CostCenterCreateView.as_view(), name="cost-center-create"),
    path("cost-centers/tenants/<str:tenant_id>", CostCenterListView.as_view(), name="cost-center-list"),
    path("cost-centers/<uuid:cost_center_id>", CostCenterDetailView.as_view(), name="cost-center-detail"),
]
