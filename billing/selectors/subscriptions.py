"""Read subscriptions: a tenant's live one, its list, one reached by id, and their discount/credits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from billing.models import Discount, Subscription
from billing.selectors.credits import credits_available

LIVE_EXCLUDED = Subscription.Status.CANCELED


def subscription_live_for_tenant(*, tenant_id: str) -> Subscription | None:
    """Return the tenant's subscription that is not canceled (at most one exists), or None."""
    return (
        Subscription.objects.select_related("plan", "scheduled_plan", "tenant")
        .filter(tenant_id=tenant_id)
        .exclude(status=LIVE_EXCLUDED)
        .first()
    )


def subscription_list(*, tenant_id: str, status: str | None = None) -> QuerySet[Subscription]:
    """Return the tenant's subscriptions, newest first, optionally of one status."""
    qs = Subscription.objects.select_related("plan", "scheduled_plan").filter(tenant_id=tenant_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def subscription_active_discount(*, subscription_id) -> Discount | None:
    """Return the subscription's active discount record (exhausted or not), or None."""
    return Discount.objects.select_related("coupon").filter(subscription_id=subscription_id, active=True).first()


def subscription_credit_balance(*, subscription: Subscription, at: datetime) -> Decimal:
    """Return the tenant's available credits in the subscription's currency at `at`."""
    return credits_available(tenant_id=subscription.tenant_id, currency=subscription.currency, at=at)


def subscriptions_resume_due_ids(*, at: datetime) -> list:
    """Return the ids of paused subscriptions whose `resume_at` has passed by `at`, in pk order."""
    return list(
        Subscription.objects.filter(status=Subscription.Status.PAUSED, resume_at__lte=at)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
