"""Rate limits are off by default; when configured per role, excess requests get 429 + Retry-After."""

import pytest
from django.core.cache import cache

from billing_project.throttling import RoleRateThrottle

pytestmark = pytest.mark.django_db


def test_off_by_default(api, catalog):
    client = api("tenant", "acme")
    assert all(client.get("/api/v1/billing/plans").status_code == 200 for _ in range(20))


def test_configured_limit_answers_429_with_retry_after(api, catalog, monkeypatch):
    cache.clear()
    monkeypatch.setattr(RoleRateThrottle, "THROTTLE_RATES", {"tenant": "3/min", "finance": None, "service": None})
    client = api("tenant", "acme")
    codes = [client.get("/api/v1/billing/plans").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/v1/billing/plans")
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert r.json()["errors"][0]["code"] == "throttled"
    # other roles are not limited
    assert api("finance").get("/api/v1/billing/plans").status_code == 200
