"""Grant credits; consume them at finalize (oldest-expiring first) and restore them when an invoice is voided."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import CreditApplication, CreditGrant, Invoice, Subscription
from billing.selectors.credits import credit_grants_usable
from billing.services.discounts import money_amount_validate
from billing_project.errors import invalid
from billing_project.money import quantize


@transaction.atomic
def credits_consume(*, invoice: Invoice, amount: Decimal, at: datetime) -> Decimal:
    """Return how much credit was consumed for `invoice`, at most `amount`, recording each part.

    Grants are locked in a fixed order (expiry, then pk) so concurrent finalizes never deadlock
    and never spend the same credit twice.
    """
    if amount <= 0:
        return Decimal(0)
    grants = list(
        credit_grants_usable(tenant_id=invoice.tenant_id, currency=invoice.currency, at=at)
        .select_for_update()
        .order_by("expires_at", "created_at", "id")
    )
    return credits_consume_locked(invoice=invoice, amount=amount, grants=grants)


def credits_consume_locked(*, invoice: Invoice, amount: Decimal, grants: list[CreditGrant]) -> Decimal:
    """Return how much credit was consumed for `invoice` from `grants`, at most `amount`, recording each part.

    `grants` are the usable grants the caller already locked (select_for_update, in the order of
    `credit_grants_usable`: oldest-expiring first) in its still-open transaction; nothing is re-read.
    """
    if amount <= 0:
        return Decimal(0)
    left = amount
    for grant in grants:
        if left <= 0:
            break
        take = min(grant.remaining, left)
        if take <= 0:
            continue
        grant.remaining -= take
        grant.save(update_fields=["remaining"])
        CreditApplication.objects.create(invoice=invoice, grant=grant, amount=take)
        left -= take
    return amount - left


@transaction.atomic
def credits_restore(*, invoice: Invoice) -> Decimal:
    """Return the credit given back to its grants from a voided `invoice` (each application once)."""
    restored = Decimal(0)
    apps = list(
        CreditApplication.objects.select_for_update()
        .filter(invoice=invoice, restored_at__isnull=True)
        .order_by("grant_id")
    )
    now = timezone.now()
    for app in apps:
        grant = CreditGrant.objects.select_for_update().get(pk=app.grant_id)
        grant.remaining = min(grant.amount, grant.remaining + app.amount)
        grant.save(update_fields=["remaining"])
        app.restored_at = now
        app.save(update_fields=["restored_at"])
        restored += app.amount
    return restored


def credit_grant_validate(
    *, subscription: Subscription, amount: Decimal, expires_at: datetime | None, now: datetime
) -> None:
    """Return None when a grant of `amount` expiring at `expires_at` is acceptable at `now`, else raise a 400."""
    money_amount_validate(attr="amount", amount=Decimal(amount), currency=subscription.currency)
    if expires_at is not None and expires_at <= now:
        raise invalid("expires_at", "expires_at must be in the future.", "in_past")


@transaction.atomic
def credit_grant_create(
    *, subscription: Subscription, amount: Decimal, reason: str, expires_at: datetime | None = None
) -> CreditGrant:
    """Return a new credit grant for the subscription's tenant, in the subscription's currency.

    The whole amount is available until `expires_at` (never expiring when None); finalize
    consumes grants oldest-expiring first and a void gives back what its invoice took.
    """
    amount = Decimal(amount)
    credit_grant_validate(subscription=subscription, amount=amount, expires_at=expires_at, now=timezone.now())
    amount = quantize(amount, subscription.currency)
    grant = CreditGrant(
        tenant_id=subscription.tenant_id,
        subscription=subscription,
        amount=amount,
        remaining=amount,
        currency=subscription.currency,
        reason=reason or "",
        expires_at=expires_at,
    )
    grant.full_clean()
    grant.save()
    return grant
