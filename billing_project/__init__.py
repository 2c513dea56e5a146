"""The Billing Service project: settings, URLs, Celery and the plumbing every app shares.

Importing it starts nothing: the Celery app (billing_project.celery) is loaded by `celery -A
billing_project` and, in every Django process, by `PlumbingConfig.ready()` (billing_project/apps.py).
"""
