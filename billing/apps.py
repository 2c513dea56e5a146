from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing import tasks  # noqa: F401  (registers the tasks, their job queues and signal receivers)
        from billing.models import CreditNote, Invoice, Subscription, Tenant
        from billing.models.invoice_guards import invoice_guards_connect
        from billing_project import events_registry

        invoice_guards_connect()
        # What an event's data.object shows for these objects (contract section 13).
        events_registry.register(Invoice, "billing.api.invoices:InvoiceSerializer")
        events_registry.register(Subscription, "billing.api.subscriptions:SubscriptionSerializer")
        events_registry.register(CreditNote, "billing.api.credit_notes:CreditNoteSerializer")
        events_registry.register(Tenant, "billing.api.billing_settings:BillingSettingsSerializer")  # payment_method.*
