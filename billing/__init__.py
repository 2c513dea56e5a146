"""Catalog, usage metering, subscriptions, invoices and Stripe."""
