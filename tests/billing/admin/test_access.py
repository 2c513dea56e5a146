"""The admin is for staff only, and its index and /admin/dashboard/ show the dashboard's figures."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from tests.billing.admin.conftest import NOW, at

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, db):
    call_command("create_finance_user", "fin", "--password", "finance-pass-1", stdout=open("/dev/null", "w"))
    assert client.login(username="fin", password="finance-pass-1")
    return client


@pytest.fixture
def freeze_now(monkeypatch):
    """Make the dashboard's "now" the tests' NOW (the view reads the clock)."""
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: NOW)


@pytest.mark.parametrize("path", ["/admin/", "/admin/dashboard/", "/admin/billing/tenant/"])
def test_anonymous_users_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/login/?next={path}")


@pytest.mark.parametrize("path", ["/admin/", "/admin/dashboard/"])
def test_non_staff_users_are_sent_to_the_login_page(client, path):
    get_user_model().objects.create_user("tenant-user", password="tenant-pass-1")
    assert client.login(username="tenant-user", password="tenant-pass-1")
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_login_through_the_admin_login_form(client, db):
    call_command("create_finance_user", "fin2", "--password", "finance-pass-2", stdout=open("/dev/null", "w"))
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "fin2", "password": "finance-pass-2", "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    page = client.get("/admin/").content.decode()
    assert "Billing back office" in page and "Finance dashboard" in page


def _seed(make_invoice, tenant, other_tenant):
    make_invoice(tenant, status="paid", total="1200.00", finalized_at=at("2026-03-02"), paid_at=at("2026-03-05"))
    make_invoice(tenant, status="open", total="345.67", finalized_at=at("2026-03-03"), due_at=at("2026-04-02"))
    make_invoice(other_tenant, status="open", total="80.00", finalized_at=at("2026-01-03"), due_at=at("2026-02-02"))
    make_invoice(
        other_tenant,
        status="open",
        total="15.00",
        currency="EUR",
        finalized_at=at("2026-03-03"),
        due_at=at("2026-04-02"),
    )


def test_staff_see_the_dashboard_with_the_numbers(
    staff_client, freeze_now, make_invoice, tenant, other_tenant, usage_scenario
):
    _seed(make_invoice, tenant, other_tenant)

    for path in ("/admin/", "/admin/dashboard/"):
        response = staff_client.get(path)
        assert response.status_code == 200
        page = response.content.decode()
        cards = {c.key: c for c in response.context["dashboard_cards"]}
        assert cards["invoiced"].value == "USD 1,545.67"  # 1,200.00 + 345.67 finalized in March
        assert cards["collected"].value == "USD 1,200.00"
        assert cards["outstanding"].value == "USD 425.67" and cards["outstanding"].note == "3 open invoices"
        assert cards["outstanding"].others == ("EUR 15.00",)
        assert cards["overdue"].value == "USD 80.00" and cards["overdue"].alert
        assert cards["usage"].value == "USD 5.50"  # 1.50 + 2.00 + 1.00 + 1.00 this month
        for text in ("USD 1,545.67", "USD 425.67", "Also EUR 15.00", "USD 80.00", "USD 5.50"):
            assert text in page
        # Charts: 12 monthly bars, one point per day so far, tooltips with exact amounts.
        assert page.count('class="bo-bar"') == 12
        assert "<title>March 2026: USD 1,545.67</title>" in page
        assert page.count('class="bo-point"') == 10
        assert "<title>Tue 03 Mar 2026: USD 2.00</title>" in page
        # Top tenants, linked to the tenant and its invoices.
        rows = response.context["dashboard_top"]
        assert [(r["tenant"].tenant_id, r["usage"]) for r in rows] == [("acme", "USD 3.50"), ("globex", "USD 1.00")]
        assert 'href="/admin/billing/tenant/acme/change/"' in page
        acme_invoices = staff_client.get(rows[0]["invoices_url"])
        assert acme_invoices.context["cl"].result_count == 2  # acme's paid and open invoices
    assert 'href="/admin/dashboard/"' in staff_client.get("/admin/").content.decode()


def test_the_index_still_lists_the_apps_below_the_dashboard(staff_client, freeze_now):
    page = staff_client.get("/admin/").content.decode()
    assert page.index('id="finance-dashboard"') < page.index('class="app-billing module')
    assert 'href="/admin/billing/tenant/"' in page


def test_an_empty_dashboard_says_no_data_yet(staff_client, freeze_now):
    page = staff_client.get("/admin/dashboard/").content.decode()
    assert page.count('class="bo-empty-text">No data yet') == 2  # both charts
    assert '<p class="bo-empty">No data yet' in page  # the top tenants
    assert "USD 0.00" in page


def test_the_cards_link_to_the_matching_invoices(staff_client, freeze_now, make_invoice, tenant, other_tenant):
    _seed(make_invoice, tenant, other_tenant)
    response = staff_client.get("/admin/")
    cards = {c.key: c for c in response.context["dashboard_cards"]}

    overdue = staff_client.get(cards["overdue"].url)
    assert overdue.status_code == 200 and overdue.context["cl"].result_count == 1  # globex's 80.00
    outstanding = staff_client.get(cards["outstanding"].url)
    assert outstanding.status_code == 200 and outstanding.context["cl"].result_count == 3
    invoiced = staff_client.get(cards["invoiced"].url)
    assert invoiced.status_code == 200 and invoiced.context["cl"].result_count == 3  # finalized in March
