"""Helpers for the subscription tests: a settable clock, clients per role, usage recording."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from tests.conftest import BASE, utc  # noqa: F401  (re-exported for the tests here; clock and as_ are fixtures there)


@pytest.fixture
def record(clock):
    """Return record(tenant_id, metric, quantity, at, **fields): store one usage event through the ingest."""
    from billing.services.usage import usage_ingest

    counter = {"n": 0}

    def _record(tenant_id: str, metric: str, quantity, at: datetime, **fields) -> None:
        counter["n"] += 1
        event = {
            "event_id": f"ev-{counter['n']}",
            "metric": metric,
            "quantity": str(Decimal(quantity)),
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            **fields,
        }
        usage_ingest(tenant_id=tenant_id, events=[event], now=max(clock.now(), at))

    return _record
