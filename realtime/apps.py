from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time cost"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        # Base accrues with time and periods roll over without usage: re-evaluate every tenant's alerts.
        settings.CELERY_BEAT_SCHEDULE.update(
            {"realtime-evaluate-alerts": {"task": "realtime.tasks.alerts_evaluate_all", "schedule": 300.0}}
        )
