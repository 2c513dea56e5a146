"""Helpers for the usage tests: post events, read summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

BASE = "/api/v1/billing/tenants"


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def now():
    return datetime.now(UTC)


@pytest.fixture
def month_start(now):
    """Return 00:00Z on the first day of the current month (the default summary range starts here)."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def post_batch(service):
    def post(tenant_id, events, client=None):
        return (client or service).post(f"{BASE}/{tenant_id}/usage/batch", {"events": events}, format="json")

    return post


@pytest.fixture
def summary(finance):
    def get(tenant_id, client=None, **params):
        return (client or finance).get(f"{BASE}/{tenant_id}/usage/summary", params)

    return get


def rows_by(resp, key="metric"):
    return {r[key]: r for r in resp.json()["results"]}


def at(base: datetime, **delta) -> str:
    return iso(base + timedelta(**delta))
