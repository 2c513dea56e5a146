"""Fixtures shared with the Stripe tests (the ORM invoice factory)."""

from tests.billing.stripe.conftest import make_invoice  # noqa: F401  (fixture)
