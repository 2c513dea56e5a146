"""Reads for the finance dashboard's collection figures: credit notes, refunds and dunning.

Grouped by currency like the rest of the dashboard (amounts in different currencies never add up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, F, Min, Sum

from billing.models import CreditNote, Invoice
from billing.selectors.dashboard import month_start


@dataclass(frozen=True)
class DunningRow:
    invoice_id: str
    number: str
    tenant_id: str
    currency: str
    remaining: Decimal
    attempt_count: int
    next_attempt: datetime | None


@dataclass(frozen=True)
class Collection:
    """Credit notes and refunds this month, and the invoices in dunning, by currency."""

    credited: dict[str, Decimal]
    refunded: dict[str, Decimal]
    in_retry: dict[str, tuple[int, Decimal]]
    failed_for_good: dict[str, tuple[int, Decimal]]
    next_attempt: datetime | None
    retrying: list[DunningRow]


def _remaining():
    return F("amount_due") - F("amount_paid") - F("amount_credit_applied")


def _by_currency(rows, key: str) -> dict[str, Decimal]:
    return {r["currency"]: r[key] or Decimal(0) for r in rows}


def collection_summary(*, now: datetime, limit: int = 10) -> Collection:
    """Return this month's credited and refunded amounts and the dunning state as of `now`."""
    start = month_start(now)
    notes = CreditNote.objects.filter(created_at__gte=start, created_at__lte=now).values("currency").order_by()
    credited = _by_currency(notes.annotate(s=Sum("total")), "s")
    refunded = _by_currency(
        notes.filter(refund_status__in=["pending", "succeeded"]).annotate(s=Sum("refund_amount")), "s"
    )
    open_retry = Invoice.objects.filter(status=Invoice.Status.OPEN, next_payment_attempt__isnull=False)
    exhausted = Invoice.objects.filter(
        status__in=[Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE], dunning_exhausted_at__isnull=False
    )
    in_retry = {
        r["currency"]: (r["n"], r["s"] or Decimal(0))
        for r in open_retry.values("currency").order_by().annotate(n=Count("id"), s=Sum(_remaining()))
    }
    failed = {
        r["currency"]: (r["n"], r["s"] or Decimal(0))
        for r in exhausted.values("currency").order_by().annotate(n=Count("id"), s=Sum(_remaining()))
    }
    rows = [
        DunningRow(
            str(i.pk),
            i.number or "",
            i.tenant_id,
            i.currency,
            i.amount_remaining,
            i.attempt_count,
            i.next_payment_attempt,
        )  # fmt: skip
        for i in open_retry.order_by("next_payment_attempt")[:limit]
    ]
    soonest = open_retry.aggregate(m=Min("next_payment_attempt"))["m"]
    return Collection(credited, refunded, in_retry, failed, soonest, rows)


__all__ = ["Collection", "DunningRow", "collection_summary"]
