"""The admin site of the finance back office: its titles, the dashboard on the index and at /admin/dashboard/.

`BillingAdminConfig` replaces ``django.contrib.admin`` in INSTALLED_APPS so that ``admin.site`` (which
every app registers its ModelAdmins on) is a `BillingAdminSite`. Like any admin page, the dashboard
is only for active staff users: everyone else is sent to the login page.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.urls import path


class BillingAdminSite(AdminSite):
    site_header = "Billing back office"
    site_title = "Billing back office"
    index_title = "Finance dashboard"

    def get_urls(self):
        from billing.admin.dashboard import dashboard_view

        return [path("dashboard/", self.admin_view(dashboard_view), name="dashboard"), *super().get_urls()]

    def index(self, request, extra_context=None):
        """Return the index with the dashboard (cards, charts, top tenants) above the app list."""
        from billing.admin.dashboard import dashboard_context

        return super().index(request, {**dashboard_context(), **(extra_context or {})})


class BillingAdminConfig(AdminConfig):
    default_site = "billing_project.admin_site.BillingAdminSite"
