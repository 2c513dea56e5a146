"""The tenant admin: subscription, credit balance and invoice link per tenant, bounded queries, inlines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import CreditGrant, Tenant
from billing.selectors.credits import credits_available
from tests.billing.admin.conftest import at, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, db):
    get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1")
    client.login(username="root", password="root-pass-1")
    return client


def _tenant_row(page: str, tenant_id: str) -> str:
    start = page.index(f'href="/admin/billing/tenant/{tenant_id}/change/"')
    return page[start : page.index("</tr>", start)]


def test_the_list_shows_tax_rate_subscription_credits_and_a_link_to_the_invoices(admin_client_, catalog, make_invoice):
    sub = subscribe("acme", "pro", started=at("2026-01-01"), period=(at("2026-03-01"), at("2026-04-01")))
    Tenant.objects.filter(id="acme").update(tax_rate=Decimal("0.2"), stripe_customer_id="cus_123")
    now = timezone.now()
    CreditGrant.objects.create(tenant_id="acme", amount=Decimal("30"), remaining=Decimal("25.50"), currency="USD")
    CreditGrant.objects.create(
        tenant_id="acme",
        amount=Decimal("10"),
        remaining=Decimal("10"),
        currency="USD",
        expires_at=now - timedelta(days=1),
    )  # expired: not available
    CreditGrant.objects.create(tenant_id="acme", amount=Decimal("7"), remaining=Decimal("7"), currency="EUR")
    tenant = sub.tenant
    for _ in range(3):
        make_invoice(tenant, status="paid", total="10.00", finalized_at=at("2026-02-01"), paid_at=at("2026-02-02"))
    Tenant.objects.create(id="wayne", name="Wayne")

    page = admin_client_.get("/admin/billing/tenant/").content.decode()

    acme = _tenant_row(page, "acme")
    assert "20 %" in acme and "cus_123" in acme and "pro (active)" in acme
    assert "USD 25.50" in acme
    assert credits_available(tenant_id="acme", currency="USD", at=now) == Decimal("25.50")
    assert 'href="/admin/billing/invoice/?tenant__id__exact=acme"' in acme and "Invoices (3)" in acme
    wayne = _tenant_row(page, "wayne")
    assert "0 %" in wayne and "Invoices (0)" in wayne and wayne.count("—") == 2  # no subscription, no credits


def test_the_list_runs_the_same_number_of_queries_for_more_tenants(admin_client_, catalog, make_invoice):
    def add(n):
        for i in range(n):
            sub = subscribe(
                f"t{len(Tenant.objects.all())}-{i}",
                "starter",
                started=at("2026-01-01"),
                period=(at("2026-03-01"), at("2026-04-01")),
            )
            make_invoice(sub.tenant, status="open", total="5.00", finalized_at=at("2026-03-01"))
            CreditGrant.objects.create(tenant=sub.tenant, amount=1, remaining=1, currency="USD")

    add(2)
    with CaptureQueriesContext(connection) as few:
        admin_client_.get("/admin/billing/tenant/")
    add(8)
    with CaptureQueriesContext(connection) as many:
        page = admin_client_.get("/admin/billing/tenant/").content.decode()
    assert page.count("starter (active)") == 10
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_change_page_shows_the_ten_newest_invoices_and_the_subscription(admin_client_, catalog, make_invoice):
    sub = subscribe("acme", "pro", started=at("2025-01-01"), period=(at("2026-03-01"), at("2026-04-01")))
    invoices = [
        make_invoice(
            sub.tenant,
            status="paid",
            total=f"{n}.00",
            finalized_at=at("2026-02-01"),
            paid_at=at("2026-02-02"),
            period_start=at("2025-01-01") + timedelta(days=31 * n),
        )
        for n in range(1, 13)
    ]
    CreditGrant.objects.create(tenant_id="acme", amount=Decimal("12"), remaining=Decimal("12"), currency="USD")

    page = admin_client_.get("/admin/billing/tenant/acme/change/").content.decode()

    shown = [inv.number for inv in invoices if inv.number in page]
    assert shown == [inv.number for inv in invoices[2:]]  # the 10 with the latest periods
    assert "USD 12.00" in page and "Pro (pro)" in page
    assert "recent invoices (newest 10)" in page.lower()


def test_saving_a_tenant_with_invoices_keeps_them_and_changes_the_tax_rate(admin_client_, catalog, make_invoice):
    sub = subscribe("acme", "pro", started=at("2025-01-01"), period=(at("2026-03-01"), at("2026-04-01")))
    for _ in range(12):
        make_invoice(sub.tenant, status="open", total="1.00", finalized_at=at("2026-02-01"))
    page = admin_client_.get("/admin/billing/tenant/acme/change/")
    data = {
        "name": "Acme Corp",
        "email": "billing@acme.example",
        "address": "",
        "tax_rate": "0.19",
        "stripe_customer_id": "",
        "billing_email": "",
        "collection_method": "charge_automatically",
    }
    # The management forms of the inlines, as the page rendered them.
    for formset in page.context["inline_admin_formsets"]:
        mf = formset.formset.management_form
        for name, field in mf.fields.items():
            data[f"{mf.prefix}-{name}"] = mf.initial.get(name, field.initial) if mf.initial else field.initial
        for i, form in enumerate(formset.formset.forms):
            if form.instance.pk is not None:
                data[f"{formset.formset.prefix}-{i}-{form._meta.model._meta.pk.name}"] = str(form.instance.pk)
                fk = formset.formset.fk.name
                data[f"{formset.formset.prefix}-{i}-{fk}"] = "acme"

    response = admin_client_.post("/admin/billing/tenant/acme/change/", data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    acme = Tenant.objects.get(id="acme")
    assert acme.tax_rate == Decimal("0.19")
    assert acme.invoices.count() == 12
