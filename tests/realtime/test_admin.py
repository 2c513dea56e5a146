"""Admin pages for cost centers, quotas and alerts: lists with filters and search, soft delete, dismiss."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from costcenters.models import CostCenter
from costcenters.services.cost_centers import cost_center_create
from quotas.models import Quota
from realtime.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.test", "pw-12345678")
    client.force_login(user)
    return client


def test_cost_center_admin_lists_searches_and_soft_deletes(staff, tenant):
    eng = cost_center_create(tenant_id="acme", code="eng", name="Engineering", budget=Decimal("10"))
    cost_center_create(tenant_id="acme", code="ops", name="Operations")
    page = staff.get("/admin/costcenters/costcenter/?q=engin&state=live")
    assert page.status_code == 200
    assert b"Engineering" in page.content and b"Operations" not in page.content
    assert staff.get(f"/admin/costcenters/costcenter/{eng.pk}/change/").status_code == 200
    r = staff.post("/admin/costcenters/costcenter/", {"action": "soft_delete", "_selected_action": [str(eng.pk)]})
    assert r.status_code == 302
    eng.refresh_from_db()
    assert eng.deleted_at is not None and CostCenter.objects.count() == 2
    assert b"Operations" in staff.get("/admin/costcenters/costcenter/?state=live").content
    assert b"Engineering" not in staff.get("/admin/costcenters/costcenter/?state=live").content


def test_quota_and_alert_admin(staff, tenant, catalog):
    q = Quota.objects.create(tenant=tenant, metric_id="api_calls", limit=Decimal(5), enforcement="hard")
    page = staff.get("/admin/quotas/quota/?enforcement__exact=hard&q=acme")
    assert page.status_code == 200 and b"api_calls" in page.content
    assert staff.get(f"/admin/quotas/quota/{q.pk}/change/").status_code == 200
    alert = Alert.objects.create(tenant=tenant, type="cost_threshold", threshold=Decimal(5))
    page = staff.get("/admin/realtime/alert/?status__exact=armed")
    assert page.status_code == 200 and str(alert.pk).encode() in page.content
    assert staff.get(f"/admin/realtime/alert/{alert.pk}/change/").status_code == 200
    staff.post("/admin/realtime/alert/", {"action": "dismiss", "_selected_action": [str(alert.pk)]})
    alert.refresh_from_db()
    assert alert.status == "dismissed"
