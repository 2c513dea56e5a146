"""Stripe writes: the tenant's Customer, an invoice's PaymentIntent, Checkout and portal sessions.

Every call to Stripe goes through `billing.stripe.client` (imported as `gateway`, so tests can swap
a function). Locks are taken tenant first, then invoice, everywhere in this package.
Amounts go to Stripe in minor units and currencies in lowercase, as Stripe expects.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, Tenant
from billing.stripe import client as gateway
from billing_project.errors import Conflict
from billing_project.money import to_minor_units

#: Intent statuses in which money is moving or has moved: never replace such an intent.
PAYMENT_UNDERWAY = {"processing", "requires_capture", "succeeded"}
#: Portal sessions and card-saving Checkout Sessions are one-shot (they expire or complete), so
#: their keys also carry the current minute: a retry within it gets the same session back, a later
#: visit gets a fresh one.
SESSION_KEY_WINDOW_SECONDS = 60


class InvoiceNotPayable(Conflict):
    default_code = "invoice_not_payable"
    default_detail = "Only an open invoice with an amount due can be paid."


class InvoicePaymentUnderway(Conflict):
    default_code = "invoice_payment_underway"
    default_detail = "A payment for this invoice is already processing or has succeeded at Stripe."


def _ensure_payable(invoice: Invoice) -> None:
    """Raise 409 unless `invoice` is open with an amount due."""
    if invoice.status != Invoice.Status.OPEN or invoice.amount_remaining <= 0:
        raise InvoiceNotPayable(
            f"Invoice {invoice.number or invoice.id} is {invoice.status} with {invoice.amount_remaining} "
            f"{invoice.currency} due; only an open invoice with an amount due can be paid."
        )


def _key_window() -> int:
    return int(timezone.now().timestamp()) // SESSION_KEY_WINDOW_SECONDS


def _invoice_metadata(invoice: Invoice) -> dict:
    return {"invoice_id": str(invoice.id), "tenant_id": invoice.tenant_id, "invoice_number": invoice.number or ""}


@transaction.atomic
def stripe_customer_ensure(*, tenant: Tenant) -> Tenant:
    """Return `tenant` with a Stripe Customer, creating it on first need (one per tenant).

    The tenant row stays locked until the caller's transaction ends, so two concurrent first needs
    create one customer: the second waits and finds the id the first stored.
    """
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if not locked.stripe_customer_id:
        params = {"name": locked.name or locked.id, "metadata": {"tenant_id": locked.id}}
        if locked.email:
            params["email"] = locked.email
        customer = gateway.customer_create(params, key=f"customer-{locked.id}")
        Tenant.objects.filter(pk=locked.pk).update(stripe_customer_id=customer.id)
        locked.stripe_customer_id = customer.id
    tenant.stripe_customer_id = locked.stripe_customer_id
    return tenant


@transaction.atomic
def invoice_payment_intent(*, invoice: Invoice):
    """Return the live PaymentIntent for `invoice`, creating one for its amount due if needed.

    A stored intent is reused while it is live and still asks for the amount due; one for another
    amount is canceled and replaced. 409 when the invoice is not payable or a payment is underway.
    """
    tenant = stripe_customer_ensure(tenant=invoice.tenant)
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    _ensure_payable(invoice)
    amount = to_minor_units(invoice.amount_remaining, invoice.currency)
    currency = invoice.currency.lower()
    metadata = _invoice_metadata(invoice)

    if invoice.stripe_payment_intent_id:
        current = gateway.payment_intent_retrieve(invoice.stripe_payment_intent_id)
        if current is not None:
            if current.status in PAYMENT_UNDERWAY:
                raise InvoicePaymentUnderway(
                    f"Payment intent {current.id} is {current.status}; the invoice becomes paid when "
                    "Stripe's webhook arrives."
                )
            if current.status != "canceled":
                if current.amount == amount and current.currency == currency:
                    return current
                gateway.payment_intent_cancel(current.id)
            # A different key from the canceled intent's, so Stripe cannot hand that one back.
            metadata["replaces_payment_intent"] = current.id

    params = {"amount": amount, "currency": currency, "customer": tenant.stripe_customer_id, "metadata": metadata}
    intent = gateway.payment_intent_create(params, key=f"pi-{invoice.id}-{amount}")
    Invoice.objects.filter(pk=invoice.pk).update(stripe_payment_intent_id=intent.id)
    return intent


@transaction.atomic
def checkout_session_for(
    *, tenant: Tenant, mode: str, success_url: str, cancel_url: str, invoice: Invoice | None = None
):
    """Return a new Checkout Session: "setup" saves a card, "payment" pays `invoice` (open, due > 0)."""
    tenant = stripe_customer_ensure(tenant=tenant)
    params = {
        "mode": mode,
        "customer": tenant.stripe_customer_id,
        "client_reference_id": tenant.id,
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if mode == "setup":
        # Setup mode needs a currency or explicit payment method types; cards are what renewals charge.
        params["payment_method_types"] = ["card"]
        params["metadata"] = {"tenant_id": tenant.id}
        params["setup_intent_data"] = {"metadata": {"tenant_id": tenant.id}}
        return gateway.checkout_session_create(params, key=f"checkout-setup-{tenant.id}-{_key_window()}")

    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    _ensure_payable(invoice)
    amount = to_minor_units(invoice.amount_remaining, invoice.currency)
    metadata = _invoice_metadata(invoice)
    params["line_items"] = [
        {
            "quantity": 1,
            "price_data": {
                "currency": invoice.currency.lower(),
                "unit_amount": amount,
                "product_data": {"name": f"Invoice {invoice.number or invoice.id}"},
            },
        }
    ]
    params["metadata"] = metadata
    # The PaymentIntent Checkout creates carries the same metadata, so its own events find the invoice.
    params["payment_intent_data"] = {"metadata": metadata}
    session = gateway.checkout_session_create(params, key=f"checkout-{invoice.id}-{amount}")
    Invoice.objects.filter(pk=invoice.pk).update(stripe_checkout_session_id=session.id)
    return session


@transaction.atomic
def portal_session_for(*, tenant: Tenant, return_url: str):
    """Return a new customer-portal session for `tenant`."""
    tenant = stripe_customer_ensure(tenant=tenant)
    return gateway.portal_session_create(
        {"customer": tenant.stripe_customer_id, "return_url": return_url},
        key=f"portal-{tenant.id}-{_key_window()}",
    )
