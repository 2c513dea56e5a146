"""The alerts flag the usage ingest reads in its context query: true once the tenant has an alert."""

from decimal import Decimal

from django.db import connection

from realtime.selectors.alerts import alert_exists_sql
from realtime.services.alerts import alert_create


def has_alerts(tenant_id: str) -> bool:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {alert_exists_sql(tenant_param='%(t)s')}", {"t": tenant_id})
        return cur.fetchone()[0]


def test_only_an_alert_of_the_tenant_sets_the_flag(catalog, tenant, other_tenant):
    assert has_alerts("acme") is False
    alert_create(tenant_id="globex", type="cost_threshold", threshold=Decimal(100))
    assert has_alerts("acme") is False
    alert_create(tenant_id="acme", type="cost_threshold", threshold=Decimal(100))
    assert has_alerts("acme") is True
