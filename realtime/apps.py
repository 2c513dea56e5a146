from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time cost"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing_project import events_registry
        from realtime import tasks  # noqa: F401  (registers the tasks and the job queues the alert services use)
        from realtime.models import Alert

        events_registry.register(Alert, "realtime.api.alerts:AlertSerializer")
