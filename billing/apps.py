from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing import tasks  # noqa: F401  (registers the tasks, their job queues and signal receivers)
        from billing.models.invoice_guards import invoice_guards_connect

        invoice_guards_connect()
