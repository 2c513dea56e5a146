"""The plumbing as an installed app, so its start-up work runs once Django is set up, in every process."""

from django.apps import AppConfig


class PlumbingConfig(AppConfig):
    name = "billing_project"
    verbose_name = "Plumbing"

    def ready(self) -> None:
        # The Celery app configured from settings becomes the current app, so `@shared_task`s queue
        # through it (web, management commands, tests); the worker loads it itself (`-A billing_project`).
        from billing_project import (
            celery,  # noqa: F401
            checks,  # noqa: F401  (deploy checks)
            login_throttle,  # noqa: F401  (the login-failure signal receivers)
            schema,  # noqa: F401  (the JWT scheme in /api/schema)
        )
