"""The subscriptions admin action that runs the invoices of the selected subscriptions."""

import pytest
from django.contrib.auth.models import User

from billing.models import Invoice, Subscription
from tests.conftest import utc

pytestmark = pytest.mark.django_db


def test_run_invoices_action_invoices_ended_periods_once(client, catalog, clock):
    from billing.services.subscriptions import subscription_create

    clock.set(utc(2026, 1, 1))
    sub = subscription_create(tenant_id="acme", plan_id="starter", actor=None)
    clock.set(utc(2026, 3, 10))
    client.force_login(User.objects.create_superuser("boss", "b@x.example", "pw-12345678"))
    url = "/admin/billing/subscription/"
    r = client.post(url, {"action": "run_invoices", "_selected_action": [str(sub.pk)]}, follow=True)
    assert r.status_code == 200
    assert "2 invoice(s) generated, 2 finalized" in r.content.decode()
    assert Invoice.objects.filter(subscription=sub, status="open").count() == 2
    r = client.post(url, {"action": "run_invoices", "_selected_action": [str(sub.pk)]}, follow=True)
    assert "0 invoice(s) generated" in r.content.decode() and "No period had ended" in r.content.decode()
    assert Invoice.objects.filter(subscription=sub).count() == 2
    assert Subscription.objects.get(pk=sub.pk).invoiced_through == utc(2026, 3, 1)
