"""Celery beat entries of the billing app (merged into settings.CELERY_BEAT_SCHEDULE)."""

from django.conf import settings

settings.CELERY_BEAT_SCHEDULE.update(
    {
        "billing-run-invoices": {"task": "billing.tasks.invoices_run", "schedule": 300.0},
        "billing-resume-paused": {"task": "billing.tasks.subscriptions_resume_due", "schedule": 60.0},
        "billing-expire-idempotency-keys": {"task": "billing.tasks.idempotency_keys_purge", "schedule": 3600.0},
    }
)
