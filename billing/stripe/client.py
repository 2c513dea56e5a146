"""The one place that talks to Stripe: a StripeClient built from settings, and thin calls on it.

Every create carries an idempotency key derived deterministically from what it asks for (a caller
prefix such as "customer-acme" or "pi-<invoice id>-<amount>" plus a digest of the parameters), so a
retried request gets the same object back from Stripe instead of a second customer or intent, and
a request that asks for something different never collides with an earlier key (Stripe answers
400 to a reused key with other parameters). Every Stripe failure becomes one of our errors in the
one error shape: 502 `payment_provider_error`, or 503 `payment_provider_not_configured` when no
secret key is set. Never a 500.

Objects returned are stripe-python objects (attributes, `.to_dict()`; they are not dicts).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from contextlib import contextmanager

import stripe
from django.conf import settings
from rest_framework import exceptions, status

from billing_project.errors import UpstreamError

logger = logging.getLogger(__name__)

#: (connect, read) seconds: a slow Stripe must not hold a request worker for long.
TIMEOUT_SECONDS = (3.0, 8.0)
#: stripe-python retries connection errors and 409/5xx answers, re-sending the same idempotency key.
MAX_NETWORK_RETRIES = 1


class PaymentProviderNotConfigured(exceptions.APIException):
    """503: STRIPE_SECRET_KEY (or the webhook secret) is not set."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Stripe is not configured on this server."
    default_code = "payment_provider_not_configured"


@functools.lru_cache(maxsize=4)
def _build_client(api_key: str, api_base: str) -> stripe.StripeClient:
    """Return a StripeClient for this key and base address (cached: it holds a connection pool)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
    )


def stripe_client() -> stripe.StripeClient:
    """Return the StripeClient configured by STRIPE_SECRET_KEY and STRIPE_API_BASE, or raise 503."""
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentProviderNotConfigured("Stripe is not configured: set STRIPE_SECRET_KEY.")
    return _build_client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE or "")


def idempotency_key(prefix: str, params: dict) -> str:
    """Return `prefix` plus a digest of `params`: the same request always gets the same key."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return f"{prefix}-{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


@contextmanager
def _calling(what: str):
    """Turn any Stripe failure inside the block into a 502 UpstreamError naming `what`."""
    try:
        yield
    except stripe.APIConnectionError as exc:
        logger.warning("Stripe unreachable while trying to %s: %s", what, exc)
        raise UpstreamError(f"Stripe could not be reached to {what}.") from exc
    except stripe.StripeError as exc:
        logger.warning("Stripe failed to %s: %r", what, exc)
        reason = exc.user_message or (f"HTTP {exc.http_status}" if exc.http_status else type(exc).__name__)
        raise UpstreamError(f"Stripe could not {what}: {reason}") from exc


def customer_create(params: dict, *, key: str):
    """Return a new Stripe Customer (the same one again for a retried request)."""
    with _calling("create the customer"):
        return stripe_client().v1.customers.create(
            params=params, options={"idempotency_key": idempotency_key(key, params)}
        )


def payment_intent_create(params: dict, *, key: str):
    """Return a new PaymentIntent (the same one again for a retried request)."""
    with _calling("create the payment intent"):
        return stripe_client().v1.payment_intents.create(
            params=params, options={"idempotency_key": idempotency_key(key, params)}
        )


def payment_intent_retrieve(intent_id: str):
    """Return the PaymentIntent `intent_id`, or None when Stripe does not know it."""
    with _calling("read the payment intent"):
        try:
            return stripe_client().v1.payment_intents.retrieve(intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise


def payment_intent_cancel(intent_id: str):
    """Return the PaymentIntent `intent_id` after canceling it."""
    with _calling("cancel the payment intent"):
        return stripe_client().v1.payment_intents.cancel(intent_id)


def checkout_session_create(params: dict, *, key: str):
    """Return a new Checkout Session (the same one again for a retried request)."""
    with _calling("create the checkout session"):
        return stripe_client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": idempotency_key(key, params)}
        )


def portal_session_create(params: dict, *, key: str):
    """Return a new billing-portal Session (the same one again for a retried request)."""
    with _calling("create the customer portal session"):
        return stripe_client().v1.billing_portal.sessions.create(
            params=params, options={"idempotency_key": idempotency_key(key, params)}
        )


class PaymentMethodRefused(Exception):
    """Stripe does not know the payment method or refused to attach it (a declined card)."""


class ChargeDeclined(Exception):
    """Stripe declined an off-session charge; carries Stripe's code, message and intent id."""

    def __init__(self, code: str, message: str, payment_intent_id: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.payment_intent_id = payment_intent_id


def customer_retrieve(customer_id: str):
    """Return the Stripe Customer `customer_id` (None when Stripe does not know it or deleted it)."""
    with _calling("read the customer"):
        try:
            customer = stripe_client().v1.customers.retrieve(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise
    return None if getattr(customer, "deleted", False) else customer


def customer_default_payment_method_set(customer_id: str, payment_method_id: str | None):
    """Return the Customer after making `payment_method_id` its default for invoices ("" clears it)."""
    with _calling("set the default payment method"):
        return stripe_client().v1.customers.update(
            customer_id, params={"invoice_settings": {"default_payment_method": payment_method_id or ""}}
        )


def payment_method_retrieve(payment_method_id: str):
    """Return the PaymentMethod, or None when Stripe does not know it."""
    with _calling("read the payment method"):
        try:
            return stripe_client().v1.payment_methods.retrieve(payment_method_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise


def payment_method_attach(payment_method_id: str, customer_id: str):
    """Return the PaymentMethod attached to `customer_id`; raise PaymentMethodRefused when Stripe says no."""
    with _calling("attach the payment method"):
        try:
            return stripe_client().v1.payment_methods.attach(payment_method_id, params={"customer": customer_id})
        except stripe.CardError as exc:
            raise PaymentMethodRefused(exc.user_message or "The card was declined.") from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status in (400, 404):
                raise PaymentMethodRefused(exc.user_message or "Stripe does not know this payment method.") from exc
            raise


def payment_method_detach(payment_method_id: str) -> None:
    """Detach the PaymentMethod from its customer (one Stripe no longer knows is already gone)."""
    with _calling("detach the payment method"):
        try:
            stripe_client().v1.payment_methods.detach(payment_method_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404:
                raise


def setup_intent_retrieve(setup_intent_id: str):
    """Return the SetupIntent, or None when Stripe does not know it."""
    with _calling("read the setup intent"):
        try:
            return stripe_client().v1.setup_intents.retrieve(setup_intent_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise


def payment_intent_charge(params: dict, *, key: str):
    """Return the PaymentIntent of an off-session charge confirmed at once; raise ChargeDeclined.

    `key` is the caller's idempotency key as is (one per invoice and attempt): a retried call gets
    Stripe's first answer back (the same intent, or the same decline), never a second charge.
    """
    params = {**params, "confirm": True, "off_session": True}
    with _calling("charge the payment method"):
        try:
            return stripe_client().v1.payment_intents.create(params=params, options={"idempotency_key": key})
        except stripe.CardError as exc:
            error = exc.error
            intent = getattr(error, "payment_intent", None) if error is not None else None
            raise ChargeDeclined(
                code=(getattr(error, "decline_code", None) or exc.code or "card_declined"),
                message=exc.user_message or "The card was declined.",
                payment_intent_id=getattr(intent, "id", "") or "",
            ) from exc


def refund_create(params: dict, *, key: str):
    """Return a new Refund; `key` (one per credit note and try) makes a retry return the same one."""
    with _calling("refund the payment"):
        return stripe_client().v1.refunds.create(params=params, options={"idempotency_key": key})
