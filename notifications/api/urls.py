"""The notifications app's routes under /api/v1/billing/, one module per area."""

from notifications.api import events, webhook_endpoints

urlpatterns = [*events.urlpatterns, *webhook_endpoints.urlpatterns]
