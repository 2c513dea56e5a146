"""Discounts: apply one to a subscription (replacing the old one); count the finalized invoices it
applied to and end it when used up."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import Discount, Subscription
from billing.selectors.discounts import discount_is_exhausted
from billing.services.transitions import SubscriptionCanceled, subscription_record_event
from billing_project.errors import invalid
from billing_project.money import is_valid_currency, minor_unit, quantize

#: Places of a stored percent_off (the column keeps 4).
PERCENT_PLACES = 4
PERCENT_EXPONENT = Decimal(1).scaleb(-PERCENT_PLACES)
#: Money columns hold 20 digits with 4 places.
MAX_AMOUNT = Decimal("1E16")


@transaction.atomic
def discount_mark_applied(*, discount: Discount) -> Discount:
    """Return `discount` after counting one more finalized invoice (deactivated once exhausted)."""
    Discount.objects.filter(pk=discount.pk).update(periods_applied=F("periods_applied") + 1)
    discount.refresh_from_db()
    if discount_is_exhausted(discount) and discount.active:
        discount.active = False
        discount.ended_at = timezone.now()
        discount.save(update_fields=["active", "ended_at"])
    return discount


@transaction.atomic
def discount_unmark_applied(*, discount: Discount) -> Discount:
    """Return `discount` after giving back one application (its invoice was voided)."""
    Discount.objects.filter(pk=discount.pk, periods_applied__gt=0).update(periods_applied=F("periods_applied") - 1)
    discount.refresh_from_db()
    if not discount_is_exhausted(discount) and not discount.active and discount.ended_at is not None:
        # Only a discount that ended by being used up comes back; one replaced by a newer discount stays ended.
        replaced = Discount.objects.filter(
            subscription_id=discount.subscription_id, created_at__gt=discount.created_at
        ).exists()
        has_other = Discount.objects.filter(subscription_id=discount.subscription_id, active=True).exists()
        if not has_other and not replaced:
            discount.active = True
            discount.ended_at = None
            discount.save(update_fields=["active", "ended_at"])
    return discount


DURATIONS = ("once", "repeating", "forever")


def discount_terms_validate(
    *, percent_off=None, amount_off=None, currency: str = "", duration: str, duration_in_periods=None
) -> None:
    """Return None when the terms make one valid discount, else raise a 400 naming the bad field.

    Shared by ad-hoc discounts and coupons: exactly one of `percent_off` (0 < x ≤ 100, as in
    Stripe: "10" = 10 %) or `amount_off` (> 0, at most the currency's minor-unit places);
    `repeating` needs `duration_in_periods` ≥ 1, the other durations take none.
    """
    if (percent_off is None) == (amount_off is None):
        raise invalid("percent_off", "Give exactly one of percent_off or amount_off.", "discount_kind")
    if percent_off is not None:
        percent_off = Decimal(percent_off)
        if not percent_off.is_finite() or not Decimal(0) < percent_off <= Decimal(100):
            raise invalid("percent_off", "percent_off must be greater than 0 and at most 100.", "out_of_range")
        if percent_off != percent_off.quantize(PERCENT_EXPONENT):
            raise invalid(
                "percent_off", f"percent_off takes at most {PERCENT_PLACES} decimal places.", "max_decimal_places"
            )
    else:
        amount_off = Decimal(amount_off)
        if not is_valid_currency(currency):
            raise invalid("currency", "amount_off needs a valid ISO 4217 currency.", "invalid_currency")
        money_amount_validate(attr="amount_off", amount=amount_off, currency=currency)
    if duration not in DURATIONS:
        raise invalid("duration", f"duration must be one of {', '.join(DURATIONS)}.", "invalid_choice")
    if duration == "repeating":
        if duration_in_periods is None or int(duration_in_periods) < 1:
            raise invalid("duration_in_periods", "A repeating discount needs duration_in_periods ≥ 1.", "required")
    elif duration_in_periods is not None:
        raise invalid("duration_in_periods", "duration_in_periods is only for repeating discounts.", "invalid")


def money_amount_validate(*, attr: str, amount: Decimal, currency: str) -> None:
    """Return None for a positive amount with at most `currency`'s minor-unit places, else raise a 400."""
    if not amount.is_finite() or amount <= 0:
        raise invalid(attr, f"{attr} must be greater than 0.", "out_of_range")
    if quantize(amount, currency) != amount:
        raise invalid(
            attr, f"{attr} takes at most {minor_unit(currency)} decimal places in {currency}.", "max_decimal_places"
        )
    if amount >= MAX_AMOUNT:
        raise invalid(attr, f"{attr} is too large.", "max_value")


@transaction.atomic
def discount_apply(
    *,
    subscription: Subscription,
    coupon=None,
    percent_off: Decimal | None = None,
    amount_off: Decimal | None = None,
    duration: str,
    duration_in_periods: int | None = None,
) -> Discount:
    """Return the subscription's new active discount; the one it replaces ends now (active=False).

    With a `coupon` and no explicit terms, the coupon's percent_off/amount_off are used. The
    subscription row is locked first, so two concurrent applies never leave two active discounts.
    """
    if coupon is not None and percent_off is None and amount_off is None:
        percent_off, amount_off = coupon.percent_off, coupon.amount_off
    currency = ""
    if amount_off is not None:
        currency = coupon.currency if coupon is not None and coupon.amount_off is not None else subscription.currency
        if currency != subscription.currency:
            raise invalid(
                "amount_off",
                f"The discount is in {currency}; the subscription bills in {subscription.currency}.",
                "currency_mismatch",
            )
    discount_terms_validate(
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency,
        duration=duration,
        duration_in_periods=duration_in_periods,
    )
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status == Subscription.Status.CANCELED:
        raise SubscriptionCanceled("The subscription is canceled; it cannot take a discount.")
    now = timezone.now()
    Discount.objects.filter(subscription_id=locked.pk, active=True).update(active=False, ended_at=now)
    discount = Discount(
        subscription=locked,
        coupon=coupon,
        percent_off=Decimal(percent_off).quantize(PERCENT_EXPONENT) if percent_off is not None else None,
        amount_off=quantize(amount_off, currency) if amount_off is not None else None,
        currency=currency,
        duration=duration,
        duration_in_periods=int(duration_in_periods) if duration == "repeating" else None,
    )
    discount.full_clean()
    discount.save()
    subscription_record_event(subscription=locked)
    return discount
