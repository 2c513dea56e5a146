"""Routes of this area under /api/v1/billing/ (filled in by its issue)."""
urlpatterns: list = []
