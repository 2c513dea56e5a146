from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _usage_partitions(sender, using: str = "default", **kwargs) -> None:
    """After `migrate`: create the current and next months' partitions of the usage events.

    A database built from the models (tests run with --nomigrations) has a plain events table and no
    migration to convert it: convert it here (it is empty), so tests run on the partitioned schema.
    """
    from django.db import connections
    from django.db.migrations.loader import MigrationLoader

    from billing.services.usage_partitions import usage_events_partition, usage_partitions_ensure

    if MigrationLoader.migrations_module("billing")[0] is None:
        with connections[using].schema_editor() as editor:
            usage_events_partition(editor)
    usage_partitions_ensure(using=using)


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
        post_migrate.connect(_usage_partitions, sender=self, dispatch_uid="billing-usage-partitions")
        # What an event's data.object shows for these objects (contract section 13).
        events_registry.register(Invoice, "billing.api.invoices:InvoiceSerializer")
        events_registry.register(Subscription, "billing.api.subscriptions:SubscriptionSerializer")
        events_registry.register(CreditNote, "billing.api.credit_notes:CreditNoteSerializer")
        events_registry.register(Tenant, "billing.api.billing_settings:BillingSettingsSerializer")  # payment_method.*
