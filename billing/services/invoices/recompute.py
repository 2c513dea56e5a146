"""Recompute a subscription's drafts from what is known now (a one-off charge removed from one, say)."""

from __future__ import annotations

from billing.models import Invoice, InvoiceLine
from billing.selectors.invoices import subscription_period_matching

from .drafts import _bill, _line_rows, _lock_draft, _totals_fields
from .finalize import _period_as_stored


def invoice_drafts_recompute(*, subscription_id) -> int:
    """Return how many drafts of the subscription had their lines and totals recomputed.

    Runs inside the caller's transaction; each draft is locked first (a finalize running at the
    same time holds the lock, and once it has finished the invoice is no longer a draft).
    """
    count = 0
    drafts = Invoice.objects.filter(subscription_id=subscription_id, status=Invoice.Status.DRAFT).order_by("pk")
    for draft in drafts:
        locked = _lock_draft(draft)
        if locked.status != Invoice.Status.DRAFT:
            continue
        subscription = locked.subscription
        period = subscription_period_matching(
            subscription=subscription, period_start=locked.period_start, period_end=locked.period_end
        ) or _period_as_stored(subscription, locked)
        bill = _bill(subscription=subscription, period=period, credits_available=None)
        InvoiceLine.objects.filter(invoice=locked).delete()
        InvoiceLine.objects.bulk_create(_line_rows(locked, bill.lines))
        Invoice.objects.filter(pk=locked.pk).update(**_totals_fields(bill))
        count += 1
    return count
