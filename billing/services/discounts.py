"""Discount bookkeeping: count the finalized invoices a discount applied to; end it when used up."""
from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.models import Discount
from billing.selectors.discounts import discount_is_exhausted


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
        has_other = Discount.objects.filter(subscription_id=discount.subscription_id, active=True).exists()
        if not has_other:
            discount.active = True
            discount.ended_at = None
            discount.save(update_fields=["active", "ended_at"])
    return discount
