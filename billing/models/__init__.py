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
from .usage import UsageDailyDistinct, UsageEvent, UsageEventKey, UsageHourly, UsageRollup
from .usage_dims import UsageDimCoverage, UsageDimHourly, UsageDimRollup
from .usage_levels import UsageLevel

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
    "UsageDimCoverage",
    "UsageDimHourly",
    "UsageDimRollup",
    "UsageEvent",
    "UsageEventKey",
    "UsageDailyDistinct",
    "UsageHourly",
    "UsageLevel",
    "UsageRollup",
]
