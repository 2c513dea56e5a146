"""Charging an invoice's default payment method: one payment attempt at a time.

Three steps, each its own transaction, so a crash anywhere leaves recoverable state:
1. `payment_attempt_begin` writes the attempt (`processing`, number n) under the invoice's row lock;
2. `payment_attempt_run` asks Stripe for an off-session PaymentIntent with the idempotency key
   `invoice-<id>-attempt-<n>` (a second run, or a run after a worker died once Stripe had answered,
   gets the same intent back: one charge);
3. `payment_attempt_record` applies the outcome under the invoice's row lock, once (an attempt that
   is no longer `processing` was already recorded, by another run or by the webhook).
Lock order: invoice, then its attempts (the Stripe code locks tenant before invoice; nothing here
locks a tenant).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import Invoice, PaymentAttempt, Subscription
from billing.services.payments import dunning
from billing.services.payments.errors import (
    InvoiceNotPayable,
    InvoicePaymentUnderway,
    NoPaymentMethod,
    PaymentFailed,
)
from billing.services.transitions import (
    invoice_record_events,
    invoice_transition,
    subscription_record_event,
    subscription_transition,
)
from billing.stripe import client as gateway
from billing_project.errors import UpstreamError
from billing_project.money import to_minor_units
from billing_project.observability import metrics

Status = PaymentAttempt.Status
#: What a PaymentIntent's status means for the attempt that created it.
INTENT_OUTCOME = {
    "succeeded": Status.SUCCEEDED,
    "requires_action": Status.REQUIRES_ACTION,
    "requires_confirmation": Status.REQUIRES_ACTION,
    "requires_payment_method": Status.FAILED,
    "canceled": Status.FAILED,
    "processing": Status.PROCESSING,
    "requires_capture": Status.PROCESSING,
}


def _lock_invoice(invoice_id) -> Invoice:
    return Invoice.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=invoice_id)


def _ensure_chargeable(invoice: Invoice) -> None:
    """Raise 409 unless `invoice` is open with money still to pay and nothing in flight."""
    if invoice.status != Invoice.Status.OPEN or invoice.amount_remaining <= 0:
        raise InvoiceNotPayable(
            f"Invoice {invoice.number or invoice.id} is {invoice.status} with {invoice.amount_remaining} "
            f"{invoice.currency} remaining; only an open invoice with an amount due can be paid."
        )
    if PaymentAttempt.objects.filter(invoice=invoice, status=Status.PROCESSING).exists():
        raise InvoicePaymentUnderway(f"A payment attempt on invoice {invoice.number or invoice.id} is processing.")


def payment_attempt_create_locked(*, invoice: Invoice, trigger: str, status: str = Status.PROCESSING, **fields):
    """Return a new attempt numbered after the invoice's last (the caller holds the invoice lock)."""
    number = invoice.attempt_count + 1
    attempt = PaymentAttempt.objects.create(
        invoice=invoice,
        attempt=number,
        trigger=trigger,
        status=status,
        amount=invoice.amount_remaining,
        currency=invoice.currency,
        payment_method_id=invoice.tenant.default_payment_method_id,
        **fields,
    )
    Invoice.objects.filter(pk=invoice.pk).update(attempt_count=number)
    invoice.attempt_count = number
    return attempt


@transaction.atomic
def payment_attempt_begin(*, invoice_id, trigger: str) -> PaymentAttempt:
    """Return a new `processing` attempt on the invoice; 409 when it cannot be charged now."""
    invoice = _lock_invoice(invoice_id)
    _ensure_chargeable(invoice)
    if not invoice.tenant.default_payment_method_id:
        raise NoPaymentMethod(f"Tenant {invoice.tenant_id} has no default payment method.")
    return payment_attempt_create_locked(invoice=invoice, trigger=trigger)


def payment_attempt_run(*, attempt_id) -> PaymentAttempt:
    """Return the attempt after asking Stripe to charge it (same key every run) and recording the answer.

    An attempt already recorded is returned as it is. Stripe unreachable leaves it `processing`
    for the sweeper (502 to a caller that waits).
    """
    attempt = PaymentAttempt.objects.select_related("invoice__tenant").get(pk=attempt_id)
    if attempt.status != Status.PROCESSING:
        return attempt
    invoice, tenant = attempt.invoice, attempt.invoice.tenant
    params = {
        "amount": to_minor_units(attempt.amount, attempt.currency),
        "currency": attempt.currency.lower(),
        "customer": tenant.stripe_customer_id,
        "payment_method": attempt.payment_method_id,
        "metadata": {
            "invoice_id": str(invoice.id),
            "tenant_id": tenant.id,
            "invoice_number": invoice.number or "",
            "attempt": str(attempt.attempt),
        },
    }
    try:
        intent = gateway.payment_intent_charge(params, key=attempt.idempotency_key)
    except gateway.ChargeDeclined as declined:
        return payment_attempt_record(
            attempt_id=attempt.pk,
            outcome=Status.FAILED,
            payment_intent_id=declined.payment_intent_id,
            failure_code=declined.code,
            failure_message=declined.message,
        )
    outcome = INTENT_OUTCOME.get(intent.status, Status.PROCESSING)
    error = getattr(intent, "last_payment_error", None)
    return payment_attempt_record(
        attempt_id=attempt.pk,
        outcome=outcome,
        payment_intent_id=intent.id,
        failure_code=(getattr(error, "code", "") or "")
        if error
        else ("authentication_required" if outcome == Status.REQUIRES_ACTION else ""),
        failure_message=(getattr(error, "message", "") or "") if error else "",
    )


FAILURE_EVENTS = {
    Status.FAILED: "invoice.payment_failed",
    Status.REQUIRES_ACTION: "invoice.payment_action_required",
}


@transaction.atomic
def payment_attempt_record(
    *,
    attempt_id,
    outcome: str,
    payment_intent_id: str = "",
    failure_code: str = "",
    failure_message: str = "",
    now: datetime | None = None,
) -> PaymentAttempt:
    """Return the attempt with Stripe's `outcome` applied to it and its invoice (once)."""
    now = now or timezone.now()
    invoice_id = PaymentAttempt.objects.filter(pk=attempt_id).values_list("invoice_id", flat=True).get()
    invoice = _lock_invoice(invoice_id)
    attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
    if attempt.status != Status.PROCESSING:
        return attempt
    attempt.status = outcome
    attempt.stripe_payment_intent_id = payment_intent_id or attempt.stripe_payment_intent_id
    attempt.failure_code, attempt.failure_message = failure_code[:64], failure_message
    if outcome == Status.SUCCEEDED:
        _paid_by_attempt(invoice, attempt, now)
    elif outcome in (Status.FAILED, Status.REQUIRES_ACTION):
        attempt.next_retry_at = dunning.after_failure(invoice=invoice, attempt=attempt, now=now)
        _past_due(invoice)
    attempt.save()
    if outcome in FAILURE_EVENTS:  # the tenant is told (webhooks, and the payment-failed e-mail)
        invoice_record_events(invoice=invoice, types=(FAILURE_EVENTS[outcome],))
    transaction.on_commit(lambda: metrics.payment_attempt_recorded(outcome))  # counted once it is stored
    return attempt


def _paid_by_attempt(invoice: Invoice, attempt: PaymentAttempt, now: datetime) -> None:
    """Mark the locked `invoice` paid by `attempt` (and its subscription active when nothing is due)."""
    fields = {
        "amount_paid": invoice.amount_paid + attempt.amount,
        "paid_at": now,
        "next_payment_attempt": None,
    }
    if attempt.stripe_payment_intent_id:
        fields["stripe_payment_intent_id"] = attempt.stripe_payment_intent_id
    if invoice.status == Invoice.Status.OPEN:
        invoice_transition(invoice=invoice, to=Invoice.Status.PAID, **fields)
    elif invoice.stripe_payment_intent_id != attempt.stripe_payment_intent_id:
        # Paid some other way meanwhile (not by this intent's webhook): keep the record true, finance refunds.
        note = (
            f"Payment attempt {attempt.attempt} ({attempt.stripe_payment_intent_id}) succeeded on a "
            f"{invoice.status} invoice: a second payment to refund."
        )
        Invoice.objects.filter(pk=invoice.pk).update(payment_note=note)
    subscription_settle(subscription_id=invoice.subscription_id)


def _past_due(invoice: Invoice) -> None:
    subscription = invoice.subscription
    if subscription is not None and Subscription.Status.PAST_DUE in Subscription.TRANSITIONS[subscription.status]:
        subscription_transition(subscription=subscription, to=Subscription.Status.PAST_DUE)


def invoices_still_due(*, subscription_id):
    """Return the subscription's open invoices with money still to pay."""
    return Invoice.objects.filter(subscription_id=subscription_id, status=Invoice.Status.OPEN).filter(
        amount_due__gt=F("amount_paid") + F("amount_credit_applied")
    )


def subscription_settle(*, subscription_id) -> None:
    """Return a `past_due` subscription to `active` when none of its invoices is open with money due."""
    if subscription_id is None:
        return
    if invoices_still_due(subscription_id=subscription_id).exists():
        return
    settled = Subscription.objects.filter(pk=subscription_id, status=Subscription.Status.PAST_DUE).update(
        status=Subscription.Status.ACTIVE
    )
    if settled:
        subscription_record_event(subscription=Subscription.objects.get(pk=subscription_id))


def invoice_pay(*, invoice: Invoice) -> Invoice:
    """Return the invoice after charging its tenant's default payment method now (POST …/pay).

    402 `payment_failed` (the attempt is recorded, the schedule goes on) when declined; 409
    `invoice_not_payable`, `no_payment_method` or `invoice_payment_underway`.
    """
    attempt = payment_attempt_begin(invoice_id=invoice.pk, trigger=PaymentAttempt.Trigger.MANUAL)
    try:
        attempt = payment_attempt_run(attempt_id=attempt.pk)
    except UpstreamError:
        raise  # the attempt stays processing: the sweeper asks Stripe again with the same key
    if attempt.status in (Status.FAILED, Status.REQUIRES_ACTION):
        raise PaymentFailed(f"The payment was declined: {attempt.failure_message or attempt.failure_code}")
    return Invoice.objects.get(pk=invoice.pk)


def invoice_collect(*, invoice_id) -> PaymentAttempt | None:
    """Return the first automatic attempt on a freshly finalized invoice, or None when it is not charged.

    Charged when open with money due, `collection_method` charge_automatically, a default payment
    method, and no attempt yet; safe to call twice (the second finds the attempt and runs it only
    if still processing).
    """
    with transaction.atomic():
        invoice = _lock_invoice(invoice_id)
        existing = PaymentAttempt.objects.filter(invoice=invoice, attempt=1).first()
        if existing is None:
            tenant = invoice.tenant
            if (
                invoice.status != Invoice.Status.OPEN
                or invoice.amount_remaining <= Decimal(0)
                or invoice.collection_method != "charge_automatically"
                or not tenant.default_payment_method_id
                or invoice.attempt_count
            ):
                return None
            existing = payment_attempt_create_locked(invoice=invoice, trigger=PaymentAttempt.Trigger.AUTOMATIC)
    return payment_attempt_run(attempt_id=existing.pk)
