"""Dunning: when a failed charge is tried again, and what happens after the last retry.

The schedule is BILLING_RETRY_SCHEDULE, days after the first failure (default 3, 5, 7). A retry
that is due is claimed with a conditional UPDATE (`next_payment_attempt` from its value to null)
in the same transaction that writes its attempt, so two beat processes, or a re-run, start it
once. After the last retry fails, BILLING_DUNNING_FINAL_ACTION: `none` (stays open, past_due),
`uncollectible` (the invoice), `cancel` (the subscription ends now, as an immediate cancel).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, PaymentAttempt, Subscription
from billing.services.transitions import invoice_transition

FINAL_ACTIONS = ("none", "uncollectible", "cancel")


def retry_schedule() -> list[int]:
    """Return the retry days after the first failure, from settings."""
    return [int(day) for day in settings.BILLING_RETRY_SCHEDULE]


def after_failure(*, invoice: Invoice, attempt: PaymentAttempt, now: datetime) -> datetime | None:
    """Return when the locked `invoice` is tried next after `attempt` failed (None: dunning is over).

    Sets the invoice's dunning fields; runs the final action when the failed attempt was the last retry.
    A failed manual attempt (POST …/pay) leaves an ongoing schedule as it was.
    """
    started = invoice.dunning_started_at or now
    fields: dict = {"dunning_started_at": started}
    schedule = retry_schedule()
    if attempt.trigger == PaymentAttempt.Trigger.MANUAL and invoice.dunning_started_at is not None:
        return invoice.next_payment_attempt
    # The failing retry is already stored, so after retry k has failed this is k.
    retries_done = PaymentAttempt.objects.filter(invoice=invoice, trigger=PaymentAttempt.Trigger.RETRY).count()
    if retries_done < len(schedule):
        fields["next_payment_attempt"] = started + timedelta(days=schedule[retries_done])
    else:
        fields["next_payment_attempt"] = None
        fields["dunning_exhausted_at"] = now
    Invoice.objects.filter(pk=invoice.pk).update(**fields)
    for name, value in fields.items():
        setattr(invoice, name, value)
    if fields["next_payment_attempt"] is None:
        _final_action(invoice)
    return fields["next_payment_attempt"]


def _final_action(invoice: Invoice) -> None:
    action = settings.BILLING_DUNNING_FINAL_ACTION
    if action == "uncollectible" and invoice.status == Invoice.Status.OPEN:
        invoice_transition(invoice=invoice, to=Invoice.Status.UNCOLLECTIBLE)
    elif action == "cancel" and invoice.subscription_id:
        from billing.services.subscriptions import subscription_cancel

        subscription = Subscription.objects.get(pk=invoice.subscription_id)
        if subscription.status != Subscription.Status.CANCELED:
            subscription_cancel(subscription=subscription, at_period_end=False)


def payment_retries_due(*, now: datetime | None = None) -> list:
    """Return the ids of open invoices whose next retry is due."""
    now = now or timezone.now()
    return list(
        Invoice.objects.filter(status=Invoice.Status.OPEN, next_payment_attempt__lte=now)
        .order_by("next_payment_attempt")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def payment_retry_claim(*, invoice_id, now: datetime | None = None) -> PaymentAttempt | None:
    """Return the retry attempt of `invoice_id` if this caller claimed it, else None (someone else did).

    Without a payment method the retry is recorded as failed at once and the schedule goes on.
    """
    from billing.services.payments.collect import payment_attempt_create_locked

    now = now or timezone.now()
    claimed = Invoice.objects.filter(pk=invoice_id, status=Invoice.Status.OPEN, next_payment_attempt__lte=now).update(
        next_payment_attempt=None
    )
    if not claimed:
        return None
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=invoice_id)
    if invoice.amount_remaining <= 0:
        return None
    if PaymentAttempt.objects.filter(invoice=invoice, status=PaymentAttempt.Status.PROCESSING).exists():
        return None
    if not invoice.tenant.default_payment_method_id:
        attempt = payment_attempt_create_locked(
            invoice=invoice,
            trigger=PaymentAttempt.Trigger.RETRY,
            status=PaymentAttempt.Status.FAILED,
            failure_code="no_payment_method",
            failure_message="The tenant has no default payment method.",
        )
        attempt.next_retry_at = after_failure(invoice=invoice, attempt=attempt, now=now)
        attempt.save(update_fields=["next_retry_at"])
        return None
    return payment_attempt_create_locked(invoice=invoice, trigger=PaymentAttempt.Trigger.RETRY)


def payment_attempts_stalled(*, now: datetime | None = None) -> list:
    """Return the ids of attempts still `processing` after BILLING_PAYMENT_RESUME_AFTER_SECONDS."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BILLING_PAYMENT_RESUME_AFTER_SECONDS)
    # Stripe keeps idempotency keys 24 h: an older attempt is left to its webhook.
    return list(
        PaymentAttempt.objects.filter(
            status=PaymentAttempt.Status.PROCESSING, updated_at__lt=cutoff, created_at__gt=now - timedelta(hours=23)
        ).values_list("pk", flat=True)
    )


def invoices_never_charged(*, now: datetime | None = None) -> list:
    """Return ids of invoices finalized in the last day that automatic collection never tried (a lost task)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.BILLING_PAYMENT_RESUME_AFTER_SECONDS)
    return list(
        Invoice.objects.filter(
            status=Invoice.Status.OPEN,
            collection_method="charge_automatically",
            attempt_count=0,
            finalized_at__lt=cutoff,
            finalized_at__gt=now - timedelta(days=1),
        )
        .exclude(tenant__default_payment_method_id="")
        .values_list("pk", flat=True)
    )
