"""Celery tasks of the billing app: thin, carrying ids, named after the service they call.

Each area keeps its tasks in its own module; they are imported here so autodiscovery finds them.
"""

import importlib

for _name in ("usage", "subscriptions", "invoices", "stripe", "maintenance"):
    try:
        importlib.import_module(f"billing.tasks.{_name}")
    except ModuleNotFoundError as exc:  # an area without tasks yet
        if exc.name != f"billing.tasks.{_name}":
            raise
