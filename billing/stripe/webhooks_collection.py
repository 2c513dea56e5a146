"""Webhook handlers for payment methods and refunds (contract sections 11 and 12).

Payment-method events are applied by asking Stripe for the customer's (or setup intent's) current
state, never by trusting the event's copy: events arrive late, twice and out of order. Refund
events only move `refund_status` forward (see `credit_note_refund_settled`).
"""

from __future__ import annotations

from billing.models import Tenant
from billing.services.credit_notes.refund import credit_note_refund_settled
from billing.services.payments.settings import (
    payment_method_adopt,
    payment_method_forget,
    payment_method_sync_from_customer,
)
from billing.stripe import client as gateway


def _tenant_of(customer_id: str | None, metadata: dict | None = None) -> Tenant | None:
    if customer_id:
        tenant = Tenant.objects.filter(stripe_customer_id=customer_id).first()
        if tenant is not None:
            return tenant
    tenant_id = (metadata or {}).get("tenant_id")
    return Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None


def _id(value) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _adopt_setup_intent(setup_intent_id: str | None, tenant: Tenant | None) -> None:
    if not setup_intent_id or tenant is None:
        return
    intent = gateway.setup_intent_retrieve(setup_intent_id)
    if intent is None or getattr(intent, "status", "succeeded") != "succeeded":
        return
    method_id = _id(getattr(intent, "payment_method", None))
    if method_id:
        payment_method_adopt(tenant=tenant, payment_method_id=method_id)


def on_setup_session_completed(session: dict) -> None:
    """A Checkout Session in setup mode saved a card: make it the default (read from Stripe)."""
    tenant = _tenant_of(_id(session.get("customer")), session.get("metadata"))
    _adopt_setup_intent(_id(session.get("setup_intent")), tenant)


def _on_setup_intent_succeeded(payload: dict) -> None:
    intent = payload["data"]["object"]
    _adopt_setup_intent(intent["id"], _tenant_of(_id(intent.get("customer")), intent.get("metadata")))


def _on_customer_updated(payload: dict) -> None:
    tenant = _tenant_of(payload["data"]["object"]["id"])
    if tenant is not None:
        payment_method_sync_from_customer(tenant=tenant)


def _on_payment_method_detached(payload: dict) -> None:
    payment_method_forget(payment_method_id=payload["data"]["object"]["id"])


def _refund_update(refund: dict) -> None:
    credit_note_refund_settled(stripe_refund_id=refund.get("id") or "", stripe_status=refund.get("status") or "")


def _on_refund_updated(payload: dict) -> None:
    _refund_update(payload["data"]["object"])


def _on_charge_refunded(payload: dict) -> None:
    refunds = (payload["data"]["object"].get("refunds") or {}).get("data") or []
    for refund in refunds:
        _refund_update(refund)


COLLECTION_HANDLERS = {
    "setup_intent.succeeded": _on_setup_intent_succeeded,
    "customer.updated": _on_customer_updated,
    "payment_method.detached": _on_payment_method_detached,
    "refund.updated": _on_refund_updated,
    "charge.refunded": _on_charge_refunded,
}
