from django.apps import AppConfig


class QuotasConfig(AppConfig):
    name = "quotas"
    verbose_name = "Quotas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing_project import events_registry
        from quotas.selectors.quotas import QuotaCheck

        # quota.warning / quota.exceeded carry the quota's status as GET …/check shows it.
        events_registry.register(QuotaCheck, "quotas.api.quotas:QuotaCheckItemSerializer")
