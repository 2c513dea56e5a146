"""The hard-quota flag the usage ingest reads in its context query: true only with a hard quota."""

from decimal import Decimal

from django.db import connection

from quotas.models import Quota
from quotas.selectors.quotas import quota_hard_exists_sql


def has_hard_quota(tenant_id: str) -> bool:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {quota_hard_exists_sql(tenant_param='%(t)s')}", {"t": tenant_id})
        return cur.fetchone()[0]


def test_only_a_hard_quota_of_the_tenant_sets_the_flag(catalog, tenant, other_tenant):
    assert has_hard_quota("acme") is False
    Quota.objects.create(tenant_id="acme", metric_id="api_calls", limit=Decimal(10), enforcement="soft")
    Quota.objects.create(tenant_id="globex", metric_id="api_calls", limit=Decimal(10), enforcement="hard")
    assert has_hard_quota("acme") is False
    Quota.objects.create(tenant_id="acme", metric_id="jobs", limit=Decimal(10), enforcement="hard")
    assert has_hard_quota("acme") is True
