"""Generate drafts: for a given period of a subscription, or the next uninvoiced ended period of a tenant."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import (
    Invoice,
    Subscription,
)
from billing.selectors.invoices import (
    BillingPeriod,
    invoice_live_for_period,
    subscription_ended_periods,
    subscription_period_at,
    subscription_period_matching,
)
from billing_project.errors import invalid
from billing_project.fields import format_instant

from .drafts import NothingToInvoice, _bill, _exists_error, _insert_draft


@transaction.atomic
def invoice_generate_for_period(*, subscription: Subscription, period_start: datetime, period_end: datetime) -> Invoice:
    """Return a new draft for the subscription's period [period_start, period_end).

    Lines are priced from the usage recorded so far, without credits (they apply at finalize).
    Raises InvoiceExists (409) when a non-void invoice already covers the period.
    """
    period = subscription_period_matching(subscription=subscription, period_start=period_start, period_end=period_end)
    if period is None:
        natural = subscription_period_at(subscription=subscription, at=period_start)
        period = BillingPeriod(period_start, period_end, natural.natural_start, natural.natural_end)
    existing = invoice_live_for_period(subscription_id=subscription.pk, period_start=period.start)
    if existing is not None:
        raise _exists_error(existing)
    bill = _bill(subscription=subscription, period=period, credits_available=Decimal(0))
    return _insert_draft(subscription=subscription, period=period, bill=bill)


@transaction.atomic
def invoice_generate(
    *, tenant_id: str, period_start: datetime | None = None, period_end: datetime | None = None
) -> Invoice:
    """Return a new draft for one of the tenant's ended periods.

    Without a period: the most recent ended period of the tenant's subscriptions (the live one
    first) that has no non-void invoice (409 nothing_to_invoice if none). With one: it must be one
    of a subscription's ended periods or the cut period of an immediate cancel (400 invalid_period);
    a period that already has an invoice is 409 invoice_exists.
    """
    now = timezone.now()
    subscriptions = list(Subscription.objects.select_related("plan", "tenant").filter(tenant_id=tenant_id))
    # The live subscription first, then ended ones, most recently ended first.
    subscriptions.sort(key=lambda s: (s.ended_at is not None, -(s.ended_at or s.started_at).timestamp()))
    if not subscriptions:
        raise NothingToInvoice(f"Tenant {tenant_id} has no subscription to invoice.")
    if period_end is not None and period_start is None:
        raise invalid("period_start", "Give period_start together with period_end.", "required")
    if period_start is not None:
        return _generate_given(subscriptions, period_start=period_start, period_end=period_end, now=now)
    for sub in subscriptions:
        periods = subscription_ended_periods(subscription=sub, now=now)
        if not periods:
            continue
        taken = set(
            Invoice.objects.filter(subscription=sub)
            .exclude(status=Invoice.Status.VOID)
            .values_list("period_start", flat=True)
        )
        for period in periods:
            if period.start not in taken:
                return invoice_generate_for_period(subscription=sub, period_start=period.start, period_end=period.end)
    raise NothingToInvoice(f"Every ended period of tenant {tenant_id} already has an invoice.")


def _generate_given(
    subscriptions: list[Subscription], *, period_start: datetime, period_end: datetime | None, now: datetime
) -> Invoice:
    """Return a new draft for the given ended period of one of `subscriptions` (400 invalid_period if none)."""
    if period_end is not None and period_end <= period_start:
        raise invalid("period_end", "period_end must be after period_start.", "invalid_period")
    for sub in subscriptions:
        period = subscription_period_matching(subscription=sub, period_start=period_start, period_end=period_end)
        if period is None:
            continue
        if period.end > now:
            raise invalid(
                "period_end",
                f"The period {format_instant(period.start)} – {format_instant(period.end)} has not ended yet.",
                "invalid_period",
            )
        return invoice_generate_for_period(subscription=sub, period_start=period.start, period_end=period.end)
    raise invalid(
        "period_start",
        "Not one of the subscription's billing periods (nor the cut period of an immediate cancel).",
        "invalid_period",
    )
