"""Read what validate and redeem need: a tenant's live subscription and its past redemptions."""

from __future__ import annotations

from billing.models import Subscription
from coupons.models import CouponRedemption


def live_subscription(*, tenant_id: str) -> Subscription | None:
    """Return the tenant's subscription that is not canceled (at most one exists), or None."""
    return (
        Subscription.objects.select_related("plan")
        .filter(tenant_id=tenant_id)
        .exclude(status=Subscription.Status.CANCELED)
        .first()
    )


def redemption_exists(*, coupon_id, tenant_id: str) -> bool:
    """Return whether `tenant_id` has already redeemed the coupon."""
    return CouponRedemption.objects.filter(coupon_id=coupon_id, tenant_id=tenant_id).exists()
