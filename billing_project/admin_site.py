"""The admin site of the finance back office: its titles, the dashboard on the index and at /admin/dashboard/.

`BillingAdminConfig` replaces ``django.contrib.admin`` in INSTALLED_APPS so that ``admin.site`` (which
every app registers its ModelAdmins on) is a `BillingAdminSite`. Like any admin page, the dashboard
is only for active staff users: everyone else is sent to the login page.
"""

from collections.abc import Callable

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponse
from django.urls import path


class BillingAdminSite(AdminSite):
    site_header = "Billing back office"
    site_title = "Billing back office"
    index_title = "Finance dashboard"

    # The app that owns the dashboard registers it (billing.admin.dashboard): plumbing imports no app.
    _dashboard_view: Callable[..., HttpResponse] | None = None
    _dashboard_context: Callable[[], dict] | None = None

    def dashboard_register(self, *, view: Callable[..., HttpResponse], context: Callable[[], dict]) -> None:
        """Show `context()` above the index's app list and serve `view` at /admin/dashboard/."""
        self._dashboard_view, self._dashboard_context = view, context

    def get_urls(self):
        urls = super().get_urls()
        if self._dashboard_view is None:
            return urls
        return [path("dashboard/", self.admin_view(self._dashboard_view), name="dashboard"), *urls]

    def login(self, request, extra_context=None):
        """Return the login page, or 429 once this username has failed too often from this address."""
        from billing_project import login_throttle

        if request.method == "POST":
            wait = login_throttle.retry_after(request.POST.get("username", ""), login_throttle.client_ip(request))
            if wait:
                return login_throttle.locked_out_response(wait)
        return super().login(request, extra_context)

    def index(self, request, extra_context=None):
        """Return the index with the dashboard (cards, charts, top tenants) above the app list."""
        dashboard = self._dashboard_context() if self._dashboard_context is not None else {}
        return super().index(request, {**dashboard, **(extra_context or {})})


class BillingAdminConfig(AdminConfig):
    default_site = "billing_project.admin_site.BillingAdminSite"
