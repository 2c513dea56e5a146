"""The finance back office: one admin module per area."""

from billing.admin import (  # noqa: F401
    catalog,
    collection,
    credits,  # noqa: F401
    invoices,
    stripe,
    subscriptions,
    tenants,
    usage,
)
