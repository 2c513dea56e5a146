"""Reads of payment attempts and credit notes."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.models import CreditNote, Invoice, PaymentAttempt


def payment_attempts_of(*, invoice: Invoice) -> QuerySet[PaymentAttempt]:
    """Return the invoice's payment attempts, oldest first."""
    return PaymentAttempt.objects.filter(invoice=invoice).order_by("attempt")


def credit_notes_of_invoice(*, invoice: Invoice) -> QuerySet[CreditNote]:
    """Return the invoice's credit notes, oldest first."""
    return CreditNote.objects.filter(invoice=invoice).order_by("created_at", "number")


def credit_notes_of_tenant(*, tenant_id: str) -> QuerySet[CreditNote]:
    """Return the tenant's credit notes, newest first."""
    return CreditNote.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-number")
