"""The demo's collection story, without Stripe: a saved card charged automatically, a tenant in
dunning, and an invoice corrected by a credit note with a refund.

`make run` has no Stripe account, so Stripe's side is represented through our own records, as if
its answers and webhooks had arrived: payment methods and intents carry `pm_demo_…`/`pi_demo_…`
ids, and the credit note's refund is recorded as Stripe's `refund.updated` would settle it. The
credit note itself goes through the real service (numbering, tax split, where the money goes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from billing.models import CreditNote, Invoice, PaymentAttempt, Subscription, Tenant
from billing.services.credit_notes.create import credit_note_create
from billing_project.money import quantize

CARD = {"payment_method_type": "card", "payment_method_exp_month": 12, "payment_method_exp_year": 2030}


def _save_card(tenant_id: str, last4: str) -> None:
    Tenant.objects.filter(pk=tenant_id).update(
        default_payment_method_id=f"pm_demo_{tenant_id}",
        payment_method_brand="visa",
        payment_method_last4=last4,
        billing_email=f"ap@{tenant_id}.example",
        **CARD,
    )


def _charged_automatically(tenant_id: str) -> int:
    """Mark the tenant's paid invoices as paid by its saved card (one succeeded attempt each)."""
    _save_card(tenant_id, "4242")
    count = 0
    for invoice in Invoice.objects.filter(tenant_id=tenant_id, status=Invoice.Status.PAID, amount_paid__gt=0):
        intent = f"pi_demo_{str(invoice.pk)[:8]}"
        PaymentAttempt.objects.create(
            invoice=invoice,
            attempt=1,
            trigger=PaymentAttempt.Trigger.AUTOMATIC,
            status=PaymentAttempt.Status.SUCCEEDED,
            amount=invoice.amount_paid,
            currency=invoice.currency,
            payment_method_id=f"pm_demo_{tenant_id}",
            stripe_payment_intent_id=intent,
        )
        Invoice.objects.filter(pk=invoice.pk).update(attempt_count=1, stripe_payment_intent_id=intent)
        count += 1
    return count


def _in_dunning(tenant_id: str, now: datetime) -> int:
    """Give the tenant's open invoices a declined automatic charge and a scheduled retry."""
    _save_card(tenant_id, "0341")
    count = 0
    for invoice in Invoice.objects.filter(tenant_id=tenant_id, status=Invoice.Status.OPEN):
        failed_at = now - timedelta(days=1)
        PaymentAttempt.objects.create(
            invoice=invoice,
            attempt=1,
            trigger=PaymentAttempt.Trigger.AUTOMATIC,
            status=PaymentAttempt.Status.FAILED,
            amount=invoice.amount_remaining,
            currency=invoice.currency,
            payment_method_id=f"pm_demo_{tenant_id}",
            failure_code="card_declined",
            failure_message="Your card was declined.",
            next_retry_at=failed_at + timedelta(days=3),
        )
        Invoice.objects.filter(pk=invoice.pk).update(
            attempt_count=1, dunning_started_at=failed_at, next_payment_attempt=failed_at + timedelta(days=3)
        )
        if invoice.subscription_id:
            Subscription.objects.filter(pk=invoice.subscription_id, status=Subscription.Status.ACTIVE).update(
                status=Subscription.Status.PAST_DUE
            )
        count += 1
    return count


def _credit_note_with_refund(tenant_id: str) -> CreditNote | None:
    """Credit part of the tenant's latest card-paid invoice and refund it (settled as Stripe would)."""
    invoice = (
        Invoice.objects.filter(tenant_id=tenant_id, status=Invoice.Status.PAID, amount_paid__gt=0)
        .exclude(stripe_payment_intent_id="")
        .order_by("-finalized_at")
        .first()
    )
    if invoice is None:
        return None
    amount = quantize(min(invoice.total, invoice.amount_paid) / 4, invoice.currency)
    note = credit_note_create(
        invoice=invoice,
        amount=amount,
        reason="product_unsatisfactory",
        refund_amount=amount,
        memo="Two days of degraded service: a quarter of the month refunded.",
    )
    CreditNote.objects.filter(pk=note.pk).update(
        refund_status=CreditNote.RefundStatus.SUCCEEDED, stripe_refund_id=f"re_demo_{str(note.pk)[:8]}"
    )
    Invoice.objects.filter(pk=invoice.pk).update(amount_refunded=invoice.amount_refunded + amount)
    return note


@transaction.atomic
def demo_collection(*, now: datetime) -> dict:
    """Return what the collection story created: acme pays by card, initech is in dunning, acme got a refund."""
    charged = _charged_automatically("acme")
    dunning = _in_dunning("initech", now)
    note = _credit_note_with_refund("acme")
    return {"charged": charged, "dunning": dunning, "credit_note": note.number if note else None}
