from django.apps import AppConfig


class CostcentersConfig(AppConfig):
    name = "costcenters"
    default_auto_field = "django.db.models.BigAutoField"
