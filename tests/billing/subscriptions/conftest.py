"""Helpers for the subscription tests: a settable clock, clients per role, usage recording."""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import make_client

BASE = "/api/v1/billing"
_real_now = timezone.now


def utc(*args) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=dt_timezone.utc)


class Clock:
    """Stands in for django.utils.timezone.now; `set()` freezes it, tokens are still issued in real time."""

    def __init__(self) -> None:
        self.value: datetime | None = None

    def now(self) -> datetime:
        return self.value if self.value is not None else _real_now()

    def set(self, value: datetime) -> datetime:
        self.value = value
        return value


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(timezone, "now", c.now)
    return c


@pytest.fixture
def as_(clock):
    """Return a factory as_(role, tenant_id=None) -> APIClient whose token is valid in real time."""

    def client(role: str, tenant_id: str | None = None):
        frozen, clock.value = clock.value, None
        try:
            return make_client(role, tenant_id)
        finally:
            clock.value = frozen

    return client


@pytest.fixture
def record(clock):
    """Return record(tenant_id, metric, quantity, at, **fields): store one usage event through the ingest."""
    from billing.services.usage import usage_ingest

    counter = {"n": 0}

    def _record(tenant_id: str, metric: str, quantity, at: datetime, **fields) -> None:
        counter["n"] += 1
        event = {"event_id": f"ev-{counter['n']}", "metric": metric, "quantity": str(Decimal(quantity)),
                 "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **fields}
        usage_ingest(tenant_id=tenant_id, events=[event], now=max(clock.now(), at))

    return _record
