"""Column shapes shared by every model: money, unit prices and quantities are Decimal, never float."""

from django.db import models


def money_field(**kwargs) -> models.DecimalField:
    """Return a column for amounts in major units (rounded to the currency's minor unit on write)."""
    return models.DecimalField(max_digits=20, decimal_places=4, **kwargs)


def price_field(**kwargs) -> models.DecimalField:
    """Return a column for unit prices (up to 12 decimal places)."""
    return models.DecimalField(max_digits=30, decimal_places=12, **kwargs)


def quantity_field(**kwargs) -> models.DecimalField:
    """Return a column for usage quantities (up to 12 decimal places)."""
    return models.DecimalField(max_digits=30, decimal_places=12, **kwargs)


def currency_field(**kwargs) -> models.CharField:
    """Return an ISO 4217 currency code column."""
    return models.CharField(max_length=3, **kwargs)
