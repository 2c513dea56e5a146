"""The finance back office: one admin module per area."""
from billing.admin import catalog, invoices, stripe, subscriptions, tenants, usage  # noqa: F401
from billing.admin import credits  # noqa: F401
