"""The subscription admin's one-off charge and price-override inlines go through the services."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from billing.models import OneOffCharge, PriceOverride
from tests.billing.terms.test_richer_pricing import cloud  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _post_inline(client, url: str, prefix: str, fields: dict):
    """POST the change form with one new row in the inline `prefix` (the other inlines unchanged)."""
    page = client.get(url)
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        fs = inline.formset
        initial = fs.initial_form_count()
        data[f"{fs.prefix}-INITIAL_FORMS"] = initial
        data[f"{fs.prefix}-TOTAL_FORMS"] = initial + (1 if fs.prefix == prefix else 0)
        data[f"{fs.prefix}-MIN_NUM_FORMS"] = 0
        data[f"{fs.prefix}-MAX_NUM_FORMS"] = 1000
        for i, form in enumerate(fs.initial_forms):
            data[f"{fs.prefix}-{i}-id"] = form.instance.pk
            data[f"{fs.prefix}-{i}-subscription"] = form.instance.subscription_id
        if fs.prefix == prefix:
            data.update({f"{prefix}-{initial}-{k}": v for k, v in fields.items()})
    return client.post(url, data)


def test_admin_adds_a_one_off_charge_and_an_override_through_the_services(cloud, client, clock):  # noqa: F811
    get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-1")
    clock.value = None
    client.login(username="root", password="root-pass-1")
    url = f"/admin/billing/subscription/{cloud}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert b"One off charges" in page.content or b"One-off" in page.content or b"one off" in page.content.lower()
    r = _post_inline(client, url, "one_off_charges", {"description": "Setup fee", "quantity": "2", "unit_price": "75"})
    assert r.status_code == 302, r.content[:2000]
    charge = OneOffCharge.objects.get()
    assert (charge.amount, charge.status) == (Decimal("150.00"), "pending")
    r = _post_inline(client, url, "price_overrides", {"base_price": "7.50", "charges": "[]"})
    assert r.status_code == 302
    assert PriceOverride.objects.get().base_price == Decimal("7.50")
