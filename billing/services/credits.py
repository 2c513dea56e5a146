"""Consume credits at finalize (oldest-expiring first) and restore them when an invoice is voided."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import CreditApplication, CreditGrant, Invoice
from billing.selectors.credits import credit_grants_usable


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
