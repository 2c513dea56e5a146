"""Routes of this app under /api/v1/billing/."""
urlpatterns: list = []
