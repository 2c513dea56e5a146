from django.apps import AppConfig


class CostcentersConfig(AppConfig):
    name = "costcenters"
    verbose_name = "Cost centers"
    default_auto_field = "django.db.models.BigAutoField"
