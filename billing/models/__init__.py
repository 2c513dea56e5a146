"""Billing models, one module per aggregate."""

from .catalog import Charge, Metric, Plan
from .credit_note import CreditNote, CreditNoteNumberSequence
from .idempotency import IdempotencyKey
from .invoice import CreditApplication, Invoice, InvoiceLine, InvoiceNumberSequence
from .payment import PaymentAttempt
from .stripe import StripeWebhookEvent
from .subscription import CreditGrant, Discount, Subscription, SubscriptionPause, SubscriptionPlanSpan
from .tenant import Tenant, TenantUser
from .terms import OneOffCharge, PriceOverride
from .usage import UsageEvent, UsageEventKey, UsageHourly, UsageRollup

__all__ = [
    "Charge",
    "Metric",
    "Plan",
    "CreditNote",
    "CreditNoteNumberSequence",
    "PaymentAttempt",
    "IdempotencyKey",
    "CreditApplication",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "StripeWebhookEvent",
    "CreditGrant",
    "Discount",
    "Subscription",
    "SubscriptionPause",
    "SubscriptionPlanSpan",
    "OneOffCharge",
    "PriceOverride",
    "Tenant",
    "TenantUser",
    "UsageEvent",
    "UsageEventKey",
    "UsageHourly",
    "UsageRollup",
]
