"""Billing settings of a tenant and its default payment method (contract section 11).

The card's brand, last4 and expiry are copied from what Stripe reports for the payment method at
the moment it becomes the default; Stripe stays the authority (charges name the method's id).
Locks: tenant row first, like everywhere in the Stripe code.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import transaction

from billing.models import Tenant
from billing.stripe import client as gateway
from billing.stripe.services import stripe_customer_ensure
from billing_project.errors import NotFound, invalid
from notifications.services.events import event_record

TENANT_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")

CARD_FIELDS = (
    "default_payment_method_id",
    "payment_method_type",
    "payment_method_brand",
    "payment_method_last4",
    "payment_method_exp_month",
    "payment_method_exp_year",
)


def billing_settings_tenant(*, tenant_id: str, create: bool = True) -> Tenant:
    """Return the tenant `tenant_id`, created with the default settings on first use (unsaved if not `create`).

    An id that cannot be a tenant id is 404, like any unknown object.
    """
    if not TENANT_ID_PATTERN.fullmatch(tenant_id or ""):
        raise NotFound(f"No tenant {tenant_id[:80]!r}: tenant ids are 1–64 characters of [A-Za-z0-9_.-].")
    if not create:
        return Tenant.objects.filter(pk=tenant_id).first() or Tenant(id=tenant_id)
    return Tenant.objects.get_or_create(id=tenant_id)[0]


@transaction.atomic
def billing_settings_update(*, tenant: Tenant, **changes) -> Tenant:
    """Return `tenant` with `billing_email`, `collection_method` and/or `tax_rate` changed.

    Fields left out keep their value. A rate outside 0–1 is 400 (the e-mail is checked by the caller's
    serializer and again by `full_clean`).
    """
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    allowed = {"billing_email", "collection_method", "tax_rate"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"Not a billing setting: {', '.join(sorted(unknown))}")
    rate = changes.get("tax_rate")
    if rate is not None and not (Decimal(0) <= Decimal(rate) <= Decimal(1)):
        raise invalid("tax_rate", "The tax rate is a fraction from 0 to 1 (0.20 = 20 %).", "out_of_range")
    for name, value in changes.items():
        setattr(locked, name, "" if value is None and name == "billing_email" else value)
    locked.full_clean(exclude=["id"])
    locked.save(update_fields=[*changes])
    return locked


def _card_fields(method) -> dict:
    """Return the tenant columns describing the Stripe PaymentMethod `method` (None clears them)."""
    if method is None:
        return {
            "default_payment_method_id": "",
            "payment_method_type": "",
            "payment_method_brand": "",
            "payment_method_last4": "",
            "payment_method_exp_month": None,
            "payment_method_exp_year": None,
        }
    card = getattr(method, "card", None)
    return {
        "default_payment_method_id": method.id,
        "payment_method_type": getattr(method, "type", "") or "card",
        "payment_method_brand": (getattr(card, "brand", "") or "") if card else "",
        "payment_method_last4": (getattr(card, "last4", "") or "") if card else "",
        "payment_method_exp_month": getattr(card, "exp_month", None) if card else None,
        "payment_method_exp_year": getattr(card, "exp_year", None) if card else None,
    }


def _store_card(tenant: Tenant, method) -> Tenant:
    fields = _card_fields(method)
    changed = any(getattr(tenant, name) != value for name, value in fields.items())
    Tenant.objects.filter(pk=tenant.pk).update(**fields)
    for name, value in fields.items():
        setattr(tenant, name, value)
    if changed:  # the billing settings as the API shows them, with the new (or no) payment method
        event_record(type="payment_method.updated", tenant_id=tenant.pk, obj=tenant)
    return tenant


@transaction.atomic
def payment_method_set(*, tenant: Tenant, payment_method_id: str) -> Tenant:
    """Return `tenant` after attaching `payment_method_id` to its Stripe customer and making it the default.

    400 `invalid_payment_method` when Stripe does not know the method or refuses to attach it.
    """
    tenant = stripe_customer_ensure(tenant=tenant)
    try:
        method = gateway.payment_method_attach(payment_method_id, tenant.stripe_customer_id)
    except gateway.PaymentMethodRefused as exc:
        raise invalid(
            "payment_method_id", f"Stripe refused this payment method: {exc}", "invalid_payment_method"
        ) from exc
    gateway.customer_default_payment_method_set(tenant.stripe_customer_id, method.id)
    return _store_card(tenant, method)


@transaction.atomic
def payment_method_remove(*, tenant: Tenant) -> Tenant:
    """Return `tenant` without a default payment method, detached at Stripe too."""
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.default_payment_method_id and locked.stripe_customer_id:
        gateway.payment_method_detach(locked.default_payment_method_id)
    return _store_card(locked, None)


def payment_method_sync_from_customer(*, tenant: Tenant) -> Tenant:
    """Return `tenant` with the default payment method Stripe currently holds for its customer.

    Webhooks call this instead of trusting the event's copy: events arrive late and out of order,
    the customer as Stripe has it now never does.
    """
    customer = gateway.customer_retrieve(tenant.stripe_customer_id) if tenant.stripe_customer_id else None
    settings = getattr(customer, "invoice_settings", None) if customer is not None else None
    method_id = getattr(settings, "default_payment_method", None) if settings is not None else None
    if isinstance(method_id, dict) or hasattr(method_id, "id"):
        method_id = method_id["id"] if isinstance(method_id, dict) else method_id.id
    method = gateway.payment_method_retrieve(method_id) if method_id else None
    return _store_card(tenant, method)


def payment_method_adopt(*, tenant: Tenant, payment_method_id: str) -> Tenant:
    """Return `tenant` after a method saved through Checkout/SetupIntent became its default at Stripe too."""
    method = gateway.payment_method_retrieve(payment_method_id)
    if method is None:
        return tenant
    if tenant.stripe_customer_id:
        gateway.customer_default_payment_method_set(tenant.stripe_customer_id, method.id)
    return _store_card(tenant, method)


def payment_method_forget(*, payment_method_id: str) -> int:
    """Return how many tenants had `payment_method_id` as default and now have none (it was detached)."""
    count = 0
    for tenant in Tenant.objects.filter(default_payment_method_id=payment_method_id):
        _store_card(tenant, None)
        count += 1
    return count
