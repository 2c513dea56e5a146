from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time cost"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime import tasks  # noqa: F401  (registers the tasks and the job queues the alert services use)
