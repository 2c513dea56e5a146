"""The demo's replay: what happens to each tenant (subscribe, usage, invoice runs, payments, an upgrade,
a pause, a cancel, a void and reissue), queued in time order and run with the clock at each moment."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from billing.demo.clock import clock
from billing.demo.tenants import HOUR, DemoTenant
from billing.demo.usage import Feed
from billing.models import Invoice, Subscription
from billing.pricing import period_start_n
from billing.services.credits import credit_grant_create
from billing.services.invoices import (
    invoice_finalize,
    invoice_generate,
    invoice_grace,
    invoice_run_subscription,
    invoice_void,
)
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_change_plan,
    subscription_create,
    subscription_pause,
)
from billing.services.transitions import InvoiceNotOpen, invoice_transition


@dataclass
class Replay:
    """The time-ordered queue of things that happen to the demo tenants, and what they produced."""

    now: datetime
    queue: list = field(default_factory=list)
    seq: int = 0
    feeds: dict[str, Feed] = field(default_factory=dict)
    subs: dict[str, Subscription] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"invoices": 0, "paid": 0, "void": 0, "credits": 0})

    def at(self, when: datetime, action, *args) -> None:
        """Queue `action(self, when, *args)` for `when`; what would happen after `now` is left out."""
        if when <= self.now:
            self.seq += 1
            heapq.heappush(self.queue, (when, self.seq, action, args))

    def run(self) -> None:
        """Run the queued actions in time order, each with the clock at its moment."""
        while self.queue:
            when, _, action, args = heapq.heappop(self.queue)
            with clock(when):
                action(self, when, *args)


def _rng(*parts) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


def start_of(spec: DemoTenant, now: datetime) -> datetime:
    return (now - timedelta(days=spec.days_ago)).replace(hour=9, minute=0, second=0, microsecond=0)


def subscribe(r: Replay, when: datetime, spec: DemoTenant) -> None:
    sub = subscription_create(tenant_id=spec.id, plan_id=spec.plan, start_date=when, coupon_code=spec.coupon or None)
    r.subs[spec.id] = sub
    r.feeds[spec.id] = Feed(spec=spec, started_at=when, next_hour=when)
    if spec.story == "credits":
        credit_grant_create(subscription=sub, amount=Decimal("500.00"), reason="Migration credit from the old provider")
        r.counts["credits"] += 1
    plan = sub.plan
    n = 1
    ends_at = None
    while (end := period_start_n(when, plan.interval, n)) + HOUR <= r.now:
        r.at(end + invoice_grace() + HOUR, _invoice_run, spec, n)
        if spec.story == "cancel" and n == 2:
            ends_at = end
            break
        n += 1
    first_end = period_start_n(when, plan.interval, 1)
    if spec.story == "upgrade":
        r.at(first_end + timedelta(days=41, hours=2), _upgrade, spec)
    elif spec.story == "pause":
        r.at(r.now.replace(hour=15, minute=0, second=0, microsecond=0) - timedelta(days=18), _pause, spec)
    elif spec.story == "cancel":
        r.at(first_end + timedelta(days=12, hours=7), _cancel, spec)
        r.feeds[spec.id].stop = ends_at
    if spec.late_coupon:
        r.at(first_end + timedelta(days=33, hours=5), _redeem, spec, spec.late_coupon)


def _invoice_run(r: Replay, when: datetime, spec: DemoTenant, n: int) -> None:
    r.feeds[spec.id].ingest_until(when)
    sub = r.subs[spec.id]
    invoice_run_subscription(subscription_id=sub.pk, at=when)
    for invoice in Invoice.objects.filter(subscription=sub, finalized_at=when):
        r.counts["invoices"] += 1
        if invoice.status != Invoice.Status.OPEN:
            continue
        if spec.story == "void" and n == 2:
            r.at(when + timedelta(days=3, hours=6), _void_and_reissue, spec, invoice.pk)
        elif spec.story == "overdue" and n == 2:
            continue  # never paid: overdue once due_at passes
        else:
            rng = _rng(spec.id, "pay", n)
            r.at(when + timedelta(days=rng.randint(2, 16), hours=rng.randint(0, 9)), _pay, invoice.pk)


def _pay(r: Replay, when: datetime, invoice_id) -> None:
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status == Invoice.Status.OPEN:
        invoice_transition(
            invoice=invoice, to=Invoice.Status.PAID, error=InvoiceNotOpen, amount_paid=invoice.amount_due, paid_at=when
        )
        r.counts["paid"] += 1


def _void_and_reissue(r: Replay, when: datetime, spec: DemoTenant, invoice_id) -> None:
    """The customer disputed the invoice: void it, grant a goodwill credit, issue it again."""
    invoice = invoice_void(invoice=Invoice.objects.get(pk=invoice_id))
    r.counts["void"] += 1
    credit_grant_create(
        subscription=r.subs[spec.id],
        amount=Decimal("30.00"),
        reason="Goodwill credit after a billing dispute",
        expires_at=when + timedelta(days=90),
    )
    r.counts["credits"] += 1
    again = invoice_finalize(
        invoice=invoice_generate(tenant_id=spec.id, period_start=invoice.period_start, period_end=invoice.period_end)
    )
    r.counts["invoices"] += 1
    if again.status == Invoice.Status.OPEN:
        r.at(when + timedelta(days=4), _pay, again.pk)


def _upgrade(r: Replay, when: datetime, spec: DemoTenant) -> None:
    r.feeds[spec.id].ingest_until(when)
    subscription_change_plan(subscription=r.subs[spec.id], plan_id="business", effective="immediate")


def _pause(r: Replay, when: datetime, spec: DemoTenant) -> None:
    feed = r.feeds[spec.id]
    feed.ingest_until(when)
    subscription_pause(subscription=r.subs[spec.id])
    feed.stop = when


def _cancel(r: Replay, when: datetime, spec: DemoTenant) -> None:
    r.feeds[spec.id].ingest_until(when)
    subscription_cancel(subscription=r.subs[spec.id], at_period_end=True)


def _redeem(r: Replay, when: datetime, spec: DemoTenant, code: str) -> None:
    from coupons.services.redemptions import coupon_redeem

    coupon_redeem(code=code, tenant_id=spec.id)
