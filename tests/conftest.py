"""Shared fixtures: API clients per role, the demo catalog, tenants."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from billing_project.auth import issue_token

CATALOG = Path(__file__).resolve().parent.parent / "billing" / "fixtures" / "demo_catalog.json"
BASE = "/api/v1/billing"
_real_now = timezone.now


def utc(*args) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


class Clock:
    """Stands in for django.utils.timezone.now; `set()` freezes it (tokens are still issued in real time)."""

    def __init__(self) -> None:
        self.value: datetime | None = None

    def now(self) -> datetime:
        return self.value if self.value is not None else _real_now()

    def set(self, value: datetime) -> datetime:
        self.value = value
        return value


@pytest.fixture
def clock(monkeypatch):
    """Return a Clock that replaces timezone.now for the test."""
    c = Clock()
    monkeypatch.setattr(timezone, "now", c.now)
    return c


@pytest.fixture
def as_(clock):
    """Return as_(role, tenant_id=None) -> APIClient whose token is valid in real time."""

    def client(role: str, tenant_id: str | None = None):
        frozen, clock.value = clock.value, None
        try:
            return make_client(role, tenant_id)
        finally:
            clock.value = frozen

    return client


@pytest.fixture(autouse=True, scope="session")
def _eager_celery():
    """Run Celery tasks in-process in tests (tests that need a real worker switch this off)."""
    from billing_project.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture(autouse=True)
def _webhooks_to_localhost(settings):
    """Let webhooks reach the tests' receivers on 127.0.0.1 (the URL-safety tests switch it off)."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def make_client(role: str, tenant_id: str | None = None, sub: str | None = None) -> APIClient:
    """Return an APIClient authenticated with a fresh token for `role`."""
    client = APIClient()
    token = issue_token(sub=sub or f"test-{role}-{tenant_id or 'all'}", role=role, tenant_id=tenant_id)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def api():
    """Return a factory: api(role, tenant_id=None) -> authenticated APIClient."""
    return make_client


@pytest.fixture
def finance():
    return make_client("finance")


@pytest.fixture
def service():
    return make_client("service")


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def catalog(db):
    """Load the demo catalog (the contract's example plus a few plans)."""
    from billing.services.catalog import catalog_load, catalog_read_file

    catalog_load(data=catalog_read_file(CATALOG))


@pytest.fixture
def tenant(db):
    """Return the tenant "acme"."""
    from billing.models import Tenant

    return Tenant.objects.create(id="acme", name="Acme Corp")


@pytest.fixture
def other_tenant(db):
    from billing.models import Tenant

    return Tenant.objects.create(id="globex", name="Globex")


class Scrape:
    """One /metrics answer, parsed: `value(name, **labels)` is the sample's value (0 when absent)."""

    def __init__(self, text: str):
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels) -> float:
        return sum(
            s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def since(self, before: Scrape, name: str, **labels) -> float:
        """Return how much the sample moved from the `before` scrape to this one."""
        return self.value(name, **labels) - before.value(name, **labels)


@pytest.fixture
def scrape():
    """Return scrape() -> Scrape of GET /metrics from a loopback client."""

    def get() -> Scrape:
        response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
        assert response.status_code == 200, response.content
        return Scrape(response.content.decode())

    return get
