from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing import (
            schedule,  # noqa: F401  (registers the Celery beat entries)
            tasks,  # noqa: F401  (registers the tasks and the areas' signal receivers)
        )
        from billing_project import checks, schema  # noqa: F401  (deploy checks; the JWT scheme in /api/schema)
