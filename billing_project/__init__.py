"""The Billing Service project: settings, URLs, Celery and the plumbing every app shares."""

from .celery import app as celery_app

__all__ = ("celery_app",)
