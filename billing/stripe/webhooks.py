"""Stripe webhooks, the dj-stripe way: store every event first, then verify it, then process it once.

`webhook_receive` stores the body under its event id even when the signature fails (with
`signature_valid` False, never processed), verifies `Stripe-Signature` (HMAC-SHA256 of
"{t}.{body}" with STRIPE_WEBHOOK_SECRET, at most 5 minutes old), then `webhook_event_process`
applies it under a row lock on the event, marking it processed in the same transaction as its
effect: a replayed event id changes nothing. An event that cannot be applied (amount mismatch,
unknown invoice, invoice already paid by another payment…) keeps `processed` False with the reason
in `error` (and on the invoice's `payment_note`); finance can reprocess it from the admin, which is
safe for the same reasons.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions, status

from billing.models import Invoice, PaymentAttempt, StripeWebhookEvent, Subscription, Tenant
from billing.services.payments.collect import subscription_settle
from billing.services.transitions import invoice_transition, subscription_transition
from billing.stripe.client import PaymentProviderNotConfigured
from billing.stripe.webhooks_collection import COLLECTION_HANDLERS, on_setup_session_completed
from billing_project.money import fmt, from_minor_units

#: Stripe's own default: a signature older than this is refused (replay protection).
TOLERANCE_SECONDS = 300

PAYABLE_STATUSES = {Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE}


class InvalidSignature(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The Stripe-Signature header does not verify."
    default_code = "invalid_signature"


class InvalidPayload(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The body is not a Stripe event."
    default_code = "invalid_payload"


class PaymentNotApplied(Exception):
    """An event that cannot be applied as it stands; recorded on the event (and the invoice)."""

    def __init__(self, detail: str, invoice_id=None):
        super().__init__(detail)
        self.invoice_id = invoice_id


def _parse(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def webhook_receive(*, payload: bytes, signature: str | None) -> StripeWebhookEvent:
    """Return the stored event after storing, verifying and processing the delivery `payload`.

    Raises 400 `invalid_signature` (bad or stale signature; the event is still stored when the
    body has an id), 400 `invalid_payload`, or 503 when no webhook secret is configured.
    """
    text = payload.decode("utf-8", errors="replace")
    data = _parse(text)
    event_id = data.get("id") if data else None
    if not (isinstance(event_id, str) and 0 < len(event_id) <= 255):
        event_id = None
    event_type = str(data.get("type") or "")[:128] if data else ""
    if event_id:
        StripeWebhookEvent.objects.get_or_create(
            event_id=event_id, defaults={"type": event_type, "raw_body": text, "signature_valid": False}
        )

    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise PaymentProviderNotConfigured("Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET.")
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature(f"The Stripe-Signature header does not verify: {exc.user_message}") from None
    if event_id is None:
        raise InvalidPayload("The body is not a Stripe event with an id.")

    # The verified body replaces whatever an unverified delivery stored under this id first.
    StripeWebhookEvent.objects.filter(pk=event_id, processed=False).update(
        raw_body=text, type=event_type, signature_valid=True
    )
    return webhook_event_process(event_id=event_id)


def webhook_event_process(*, event_id: str) -> StripeWebhookEvent:
    """Return the event after applying it exactly once; `.replay` is True when it already was.

    Only verified events are applied. Failing to apply leaves it unprocessed with `error` set.
    """
    with transaction.atomic():
        event = StripeWebhookEvent.objects.select_for_update().get(pk=event_id)
        event.replay = event.processed
        if event.processed:
            return event
        if not event.signature_valid:
            raise InvalidSignature(f"Event {event_id} was never delivered with a valid signature.")
        event.error = _apply(event)
        event.processed = not event.error
        event.processed_at = timezone.now() if event.processed else None
        event.save(update_fields=["processed", "processed_at", "error"])
    return event


def _apply(event: StripeWebhookEvent) -> str:
    """Return "" after applying `event`'s effect, or why it could not be applied (nothing applied)."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return ""  # acknowledged and ignored
    try:
        with transaction.atomic():
            handler(json.loads(event.raw_body))
    except PaymentNotApplied as exc:
        if exc.invoice_id:
            Invoice.objects.filter(pk=exc.invoice_id).update(payment_note=f"Stripe event {event.event_id}: {exc}")
        return str(exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"Malformed {event.type} event: {type(exc).__name__} {exc}"
    except exceptions.APIException as exc:  # a concurrent status change (409) lost the race
        return str(exc.detail)
    return ""


def _event_time(payload: dict) -> datetime:
    created = payload.get("created")
    return datetime.fromtimestamp(int(created), tz=UTC) if created else timezone.now()


def _invoice_for(obj: dict, *, payment_intent_id: str | None) -> Invoice | None:
    """Return the locked invoice an intent or session is for: metadata.invoice_id, else the intent id.

    None means the object is not one of ours (no metadata and no invoice holds the intent).
    """
    metadata = obj.get("metadata") or {}
    invoice_id = metadata.get("invoice_id")
    locked = Invoice.objects.select_for_update()
    if invoice_id:
        try:
            invoice = locked.filter(pk=uuid.UUID(str(invoice_id))).first()
        except ValueError:
            invoice = None
        if invoice is None:
            raise PaymentNotApplied(f"metadata.invoice_id {invoice_id} names no invoice.")
    elif payment_intent_id:
        invoice = locked.filter(stripe_payment_intent_id=payment_intent_id).first()
    else:
        return None
    if invoice is not None and metadata.get("tenant_id") not in (None, "", invoice.tenant_id):
        raise PaymentNotApplied(
            f"metadata.tenant_id {metadata['tenant_id']} is not the tenant of invoice {invoice.id}.", invoice.pk
        )
    return invoice


def _apply_payment(
    invoice: Invoice,
    *,
    currency: str,
    minor_amount: int,
    paid_at: datetime,
    payment_intent_id: str | None,
    checkout_session_id: str | None = None,
) -> None:
    """Mark `invoice` paid with the amount Stripe received, or raise PaymentNotApplied."""
    label = invoice.number or str(invoice.id)
    ref = payment_intent_id or checkout_session_id
    currency = str(currency).upper()
    received = (
        f"{fmt(from_minor_units(int(minor_amount), currency), currency)} {currency}"
        if currency == invoice.currency
        else f"{int(minor_amount)} minor units of {currency}"
    )
    if invoice.status == Invoice.Status.PAID:
        if payment_intent_id and invoice.stripe_payment_intent_id == payment_intent_id:
            return  # the same payment, seen through its other event
        raise PaymentNotApplied(
            f"Invoice {label} is already paid; Stripe payment {ref} of {received} is a second payment "
            "and needs a refund.",
            invoice.pk,
        )
    if invoice.status not in PAYABLE_STATUSES:
        raise PaymentNotApplied(
            f"Invoice {label} is {invoice.status}; Stripe payment {ref} of {received} was not applied.", invoice.pk
        )
    due = f"{fmt(invoice.amount_remaining, invoice.currency)} {invoice.currency}"
    if currency != invoice.currency or from_minor_units(int(minor_amount), currency) != invoice.amount_remaining:
        raise PaymentNotApplied(
            f"Amount mismatch: Stripe payment {ref} received {received} but invoice {label} has {due} due; "
            "not applied.",
            invoice.pk,
        )
    fields = {
        "amount_paid": invoice.amount_paid + invoice.amount_remaining,
        "paid_at": paid_at,
        "next_payment_attempt": None,
    }
    if payment_intent_id:
        fields["stripe_payment_intent_id"] = payment_intent_id
    if checkout_session_id:
        fields["stripe_checkout_session_id"] = checkout_session_id
    try:
        invoice_transition(invoice=invoice, to=Invoice.Status.PAID, **fields)
    except exceptions.APIException as exc:
        raise PaymentNotApplied(f"Stripe payment {ref} was not applied: {exc.detail}", invoice.pk) from exc
    if payment_intent_id:
        PaymentAttempt.objects.filter(
            invoice=invoice, stripe_payment_intent_id=payment_intent_id, status=PaymentAttempt.Status.PROCESSING
        ).update(status=PaymentAttempt.Status.SUCCEEDED)
    subscription_settle(subscription_id=invoice.subscription_id)


def _on_payment_intent_succeeded(payload: dict) -> None:
    intent = payload["data"]["object"]
    invoice = _invoice_for(intent, payment_intent_id=intent["id"])
    if invoice is None:
        return
    received = intent.get("amount_received")
    if received is None:  # pre-2025 object shapes (the emulator) have only `amount`
        received = intent["amount"]
    _apply_payment(
        invoice,
        currency=intent["currency"],
        minor_amount=received,
        paid_at=_event_time(payload),
        payment_intent_id=intent["id"],
    )


def _on_checkout_session_paid(payload: dict) -> None:
    session = payload["data"]["object"]
    if session.get("mode") == "setup":
        on_setup_session_completed(session)
        return
    if session.get("mode") != "payment" or session.get("payment_status") != "paid":
        return  # setup sessions move no money; delayed methods report through async_payment_succeeded
    intent_id = session.get("payment_intent")
    if isinstance(intent_id, dict):
        intent_id = intent_id.get("id")
    invoice = _invoice_for(session, payment_intent_id=intent_id)
    if invoice is None:
        return
    _apply_payment(
        invoice,
        currency=session["currency"],
        minor_amount=session["amount_total"],
        paid_at=_event_time(payload),
        payment_intent_id=intent_id,
        checkout_session_id=session["id"],
    )


def _on_payment_intent_failed(payload: dict) -> None:
    intent = payload["data"]["object"]
    invoice = _invoice_for(intent, payment_intent_id=intent["id"])
    if invoice is None or invoice.status != Invoice.Status.OPEN or invoice.amount_remaining <= 0:
        return  # never backwards: a late failure for a settled invoice changes nothing
    reason = (intent.get("last_payment_error") or {}).get("message") or "no reason given"
    Invoice.objects.filter(pk=invoice.pk).update(
        payment_note=f"Stripe event {payload.get('id')}: payment {intent['id']} failed: {reason}"
    )
    subscription = invoice.subscription
    if subscription is not None and Subscription.Status.PAST_DUE in Subscription.TRANSITIONS[subscription.status]:
        subscription_transition(subscription=subscription, to=Subscription.Status.PAST_DUE)


def _on_customer_deleted(payload: dict) -> None:
    # The customer's payment methods went with it: forget the default too, so nothing charges a ghost.
    Tenant.objects.filter(stripe_customer_id=payload["data"]["object"]["id"]).update(
        stripe_customer_id="",
        default_payment_method_id="",
        payment_method_type="",
        payment_method_brand="",
        payment_method_last4="",
        payment_method_exp_month=None,
        payment_method_exp_year=None,
    )


HANDLERS = {
    "payment_intent.succeeded": _on_payment_intent_succeeded,
    "checkout.session.completed": _on_checkout_session_paid,
    "checkout.session.async_payment_succeeded": _on_checkout_session_paid,
    "payment_intent.payment_failed": _on_payment_intent_failed,
    "customer.deleted": _on_customer_deleted,
    **COLLECTION_HANDLERS,
}
