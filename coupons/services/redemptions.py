"""Validate and redeem coupon codes for a tenant.

Validation gives the first reason that holds, in the contract's order: not_found, inactive,
expired, max_redemptions_reached, already_redeemed, plan_not_eligible, currency_mismatch.
A redemption locks the coupon row, re-checks under the lock and bumps `times_redeemed` with a
conditional UPDATE, so `max_redemptions` holds exactly however many redeem at once.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import Plan, Subscription
from billing.services.discounts import discount_apply
from billing_project.errors import Conflict
from coupons.models import Coupon, CouponRedemption
from coupons.selectors.coupons import coupon_by_code
from coupons.selectors.redemptions import live_subscription, redemption_exists

REASONS = (
    "not_found",
    "inactive",
    "expired",
    "max_redemptions_reached",
    "already_redeemed",
    "plan_not_eligible",
    "currency_mismatch",
)

REASON_DETAILS = {
    "not_found": "No coupon has this code.",
    "inactive": "This coupon has been deactivated.",
    "expired": "This coupon can no longer be redeemed (redeem_by has passed).",
    "max_redemptions_reached": "This coupon has been redeemed the maximum number of times.",
    "already_redeemed": "This tenant has already redeemed this coupon.",
    "plan_not_eligible": "This coupon does not apply to the plan.",
    "currency_mismatch": "This coupon's amount is in another currency than the plan's.",
}


class CouponInvalid(Conflict):
    """409 whose error code is the reason the coupon cannot be redeemed (e.g. `expired`)."""

    default_code = "coupon_invalid"
    default_detail = "The coupon cannot be redeemed."

    def __init__(self, detail=None, code=None):
        super().__init__(detail, code)
        self.reason = code or self.default_code


class NoLiveSubscription(Conflict):
    default_code = "no_subscription"
    default_detail = "The tenant has no live subscription to apply the coupon to."


def coupon_reason(
    *, coupon: Coupon | None, tenant_id: str, plan: Plan | None, currency: str | None, now: datetime
) -> str | None:
    """Return the first reason `coupon` is not redeemable by `tenant_id` on `plan` in `currency`, or None."""
    if coupon is None:
        return "not_found"
    if not coupon.active:
        return "inactive"
    if coupon.redeem_by is not None and now >= coupon.redeem_by:
        return "expired"
    if coupon.max_redemptions is not None and coupon.times_redeemed >= coupon.max_redemptions:
        return "max_redemptions_reached"
    if redemption_exists(coupon_id=coupon.pk, tenant_id=tenant_id):
        return "already_redeemed"
    if plan is not None and coupon.applies_to_plans and plan.pk not in coupon.applies_to_plans:
        return "plan_not_eligible"
    if coupon.amount_off is not None and currency and coupon.currency != currency:
        return "currency_mismatch"
    return None


def coupon_validate(*, code: str, tenant_id: str, plan: Plan | None = None) -> tuple[Coupon | None, str | None]:
    """Return (coupon or None, first failing reason or None when `tenant_id` may redeem `code`).

    Without `plan`, the plan of the tenant's live subscription (if any) is checked.
    """
    coupon = coupon_by_code(code=code)
    currency = plan.currency if plan is not None else None
    if plan is None:
        subscription = live_subscription(tenant_id=tenant_id)
        if subscription is not None:
            plan, currency = subscription.plan, subscription.currency
    reason = coupon_reason(coupon=coupon, tenant_id=tenant_id, plan=plan, currency=currency, now=timezone.now())
    return coupon, reason


def _invalid(reason: str) -> CouponInvalid:
    return CouponInvalid(REASON_DETAILS.get(reason, "The coupon cannot be redeemed."), code=reason)


@transaction.atomic
def coupon_redeem(*, code: str, tenant_id: str, subscription: Subscription | None = None) -> CouponRedemption:
    """Return the new redemption of `code` by `tenant_id`; the subscription's discount becomes the coupon's.

    Uses `subscription` (the caller's fresh one at subscription create) or else the tenant's live
    subscription (409 `no_subscription` when there is none). An invalid code raises
    `CouponInvalid` (409) whose code is the reason.
    """
    # Lock order: coupon, then subscription (discount_apply). Nothing locks them the other way round.
    coupon = coupon_by_code(code=code, for_update=True)
    now = timezone.now()
    reason = coupon_reason(coupon=coupon, tenant_id=tenant_id, plan=None, currency=None, now=now)
    if reason is not None:
        raise _invalid(reason)
    if subscription is None:
        subscription = live_subscription(tenant_id=tenant_id)
    if subscription is None or subscription.status == Subscription.Status.CANCELED:
        raise NoLiveSubscription("The tenant has no live subscription to apply the coupon to.")
    if str(subscription.tenant_id) != str(tenant_id):
        raise NoLiveSubscription("That subscription is not the tenant's.")
    reason = coupon_reason(
        coupon=coupon, tenant_id=tenant_id, plan=subscription.plan, currency=subscription.currency, now=now
    )
    if reason is not None:
        raise _invalid(reason)
    bumped = (
        Coupon.objects.filter(pk=coupon.pk)
        .filter(Q(max_redemptions__isnull=True) | Q(times_redeemed__lt=F("max_redemptions")))
        .update(times_redeemed=F("times_redeemed") + 1)
    )
    if not bumped:
        raise _invalid("max_redemptions_reached")
    redemption = CouponRedemption.objects.create(coupon=coupon, tenant_id=tenant_id, subscription=subscription)
    discount_apply(
        subscription=subscription,
        coupon=coupon,
        duration=coupon.duration,
        duration_in_periods=coupon.duration_in_periods,
    )
    coupon.refresh_from_db(fields=["times_redeemed"])
    return redemption
