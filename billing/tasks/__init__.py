"""Celery tasks of the billing app: thin, carrying ids, named after the service they call.

Each area keeps its tasks in its own module; they are re-exported here so autodiscovery (which imports
`billing.tasks`) registers them all.
"""

from billing.tasks import invoices, maintenance, payments, subscriptions

__all__ = ["invoices", "maintenance", "payments", "subscriptions"]
