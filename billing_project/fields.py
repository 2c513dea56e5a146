"""Serializer fields shared by every app: instants that also accept dates, and money strings."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing_project.errors import invalid

#: Instants the API accepts: [2000-01-01, 2100-01-01) UTC. Nothing this service bills lies outside, and
#: the bound keeps every instant a 4-digit year well inside what PostgreSQL and Python both represent.
INSTANT_MIN = datetime(2000, 1, 1, tzinfo=UTC)
INSTANT_MAX = datetime(2100, 1, 1, tzinfo=UTC)
INSTANT_RANGE_DETAIL = "A timestamp must be from 2000-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z."


def instant_in_range(value: datetime) -> bool:
    """Return whether the aware `value` lies in [INSTANT_MIN, INSTANT_MAX)."""
    return INSTANT_MIN <= value < INSTANT_MAX


def parse_instant(value, attr: str | None = None) -> datetime:
    """Return an aware UTC datetime from an ISO 8601 timestamp or a date (00:00Z that day)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time.min)
    else:
        text = str(value).strip()
        dt = None
        try:
            dt = parse_datetime(text)
            if dt is None:
                d = parse_date(text)
                dt = datetime.combine(d, time.min) if d else None
        except ValueError:
            dt = None
        if dt is None:
            raise invalid(attr, f"'{text[:64]}' is not an ISO 8601 timestamp or date.", "invalid_datetime")
    if timezone.is_naive(dt):
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    if not instant_in_range(dt):
        raise invalid(attr, INSTANT_RANGE_DETAIL, "out_of_range")
    return dt


def format_instant(value: datetime | None) -> str | None:
    """Return `value` as `YYYY-MM-DDTHH:MM:SSZ` (with microseconds only when present)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    # NOTE: not strftime("%Y"): glibc writes year 1 as "1", not "0001".
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    return f"{text}.{value.microsecond:06d}Z" if value.microsecond else f"{text}Z"


@extend_schema_field(OpenApiTypes.DATETIME)
class InstantField(serializers.Field):
    """An ISO 8601 timestamp in UTC; a bare date means 00:00Z that day."""

    default_error_messages = {"invalid": "Expected an ISO 8601 timestamp or date."}

    def to_internal_value(self, data):
        return parse_instant(data)  # DRF nests the error under this field's name

    def to_representation(self, value):
        return format_instant(value)


@extend_schema_field({"type": "string", "format": "decimal", "example": "49.00"})
class MoneyField(serializers.Field):
    """A money amount as a decimal string with the currency's minor-unit places (read-only)."""

    def __init__(self, currency_attr: str = "currency", **kwargs):
        kwargs.setdefault("read_only", True)
        self.currency_attr = currency_attr
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        currency = (
            getattr(instance, self.currency_attr, None)
            if not isinstance(instance, dict)
            else instance.get(self.currency_attr)
        )
        return (value, currency)

    def to_representation(self, pair):
        from billing_project.money import fmt

        value, currency = pair
        if value is None:
            return None
        return fmt(Decimal(value), currency or "USD")


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.0004"})
class DecimalStringField(serializers.DecimalField):
    """A Decimal accepted from a string or number and rendered without trailing zeros noise."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 30)
        kwargs.setdefault("decimal_places", 12)
        super().__init__(**kwargs)

    def to_representation(self, value):
        if value is None:
            return None
        return plain_decimal(Decimal(value))


def plain_decimal(value: Decimal) -> str:
    """Return a Decimal as a plain string without exponent or needless trailing zeros ("0.0004", "10")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


#: The one tenant-id rule, for paths and bodies alike: 1–64 ASCII letters, digits, "_", "." or "-"
#: (\Z, not $: "acme\n" is not "acme").
TENANT_ID_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")
TENANT_ID_RULE = "A tenant id is 1–64 characters of [A-Za-z0-9_.-]."


class TenantIdField(serializers.CharField):
    """A tenant id in a request body, held to the same rule as a tenant id in a path (no trimming)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs["trim_whitespace"] = False
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(TENANT_ID_RE, TENANT_ID_RULE, code="invalid"))
