from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Events, webhooks and e-mail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import tasks  # noqa: F401  (registers the tasks and the job queues the services use)
