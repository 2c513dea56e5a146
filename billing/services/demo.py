"""Demo data for `seed_demo`: a dozen tenants with four months of history, so a new user sees real numbers.

The history is replayed through the real services in time order with the clock set to each moment
(`_clock`): subscriptions start about four months ago (back-dated, at 09:00 UTC), usage arrives hour
by hour with a business-hours shape, weekday peaks, weekend dips and a growth trend, the invoice
run bills each period an hour after it ends, customers pay some days later, one tenant upgrades
mid-period, one pauses, one cancels at period end, one invoice is voided and reissued with a
goodwill credit and one is left unpaid past its due date. Every row is therefore one the services
themselves wrote, with the timestamps a real deployment would have (finalized_at, due_at, paid_at,
invoice numbers of the right year). Usage for a period is always ingested before it is invoiced.

Randomness comes from `random.Random` seeded with tenant and hour, so an hour's events are the same
on every run; event ids are derived from tenant, metric and hour, so a re-ingest is deduplicated.

Idempotent: tenants, users, coupons and cost centers are created only when missing; a tenant's
history is replayed only while it has no subscription; quotas and alerts only when the tenant has
none of that kind. A second run changes nothing.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing.models import Invoice, Metric, Plan, Subscription, Tenant, TenantUser
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
    subscription_roll_if_due,
)
from billing.services.transitions import InvoiceNotOpen, invoice_transition
from billing.services.usage import MAX_BATCH, usage_ingest

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ADMIN_USER, ADMIN_PASSWORD = "finance", "finance-demo-123"
TENANT_USER, TENANT_PASSWORD, TENANT_USER_TENANT = "acme-user", "acme-demo-123", "acme"
HISTORY_DAYS = 125  # the oldest subscription starts this many days before now


@dataclass(frozen=True)
class DemoTenant:
    """One demo tenant: its billing account, plan, usage profile and what happens to it."""

    id: str
    name: str
    address: str
    plan: str
    days_ago: int  # the subscription starts this many days before now, at 09:00 UTC
    utc_offset: int  # local business hours of its users, in hours from UTC
    api_peak: int  # API calls in a weekday peak hour at the start (before growth)
    users: int  # active user pool at the start
    storage_gb: float  # stored GB at the start
    storage_growth: float  # GB added per day
    jobs_peak: float  # jobs in a weekday peak hour
    resources: tuple[str, ...] = ("vm-api-1",)
    growth: float = 0.003  # traffic growth per day
    tax_rate: str = "0"
    coupon: str = ""  # redeemed when subscribing
    late_coupon: str = ""  # redeemed about two months ago
    story: str = ""  # "upgrade", "pause", "cancel", "overdue", "void" or "credits"
    cost_centers: dict[str, str] = field(default_factory=dict)  # resource -> cost center code

    @property
    def email(self) -> str:
        return f"billing@{self.id}.example"


DEMO_TENANTS: list[DemoTenant] = [
    DemoTenant(
        "acme",
        "Acme Corp",
        "100 Market Street\nSan Francisco, CA 94103\nUSA",
        "pro",
        125,
        -8,
        api_peak=4200,
        users=70,
        storage_gb=120,
        storage_growth=0.9,
        jobs_peak=3.0,
        resources=("vm-api-1", "vm-api-2", "vm-etl-1"),
        coupon="WELCOME20",
        cost_centers={"vm-api-1": "platform", "vm-api-2": "platform", "vm-etl-1": "data"},
    ),
    DemoTenant(
        "globex",
        "Globex Corporation",
        "1 Globex Plaza\nCypress Creek, OR 97401\nUSA",
        "business",
        122,
        -8,
        api_peak=16000,
        users=520,
        storage_gb=900,
        storage_growth=4.0,
        jobs_peak=6.0,
        resources=("vm-web-1", "vm-web-2", "vm-batch-1"),
        story="credits",
        cost_centers={"vm-web-1": "core", "vm-web-2": "core", "vm-batch-1": "analytics"},
    ),
    DemoTenant(
        "initech",
        "Initech",
        "4120 Freidrich Lane\nAustin, TX 78744\nUSA",
        "starter",
        118,
        -6,
        api_peak=700,
        users=12,
        storage_gb=8,
        storage_growth=0.05,
        jobs_peak=0.8,
        story="overdue",
        late_coupon="LAUNCH10",
    ),
    DemoTenant(
        "umbrella",
        "Umbrella Health",
        "545 S Raccoon Ave\nChicago, IL 60607\nUSA",
        "pro",
        116,
        -6,
        api_peak=5200,
        users=95,
        storage_gb=200,
        storage_growth=1.5,
        jobs_peak=2.5,
        resources=("vm-api-1", "vm-api-2"),
        growth=0.006,
        story="upgrade",
    ),
    DemoTenant(
        "hooli",
        "Hooli",
        "1401 N Shoreline Blvd\nMountain View, CA 94043\nUSA",
        "pro",
        6,
        -8,
        api_peak=1800,
        users=25,
        storage_gb=15,
        storage_growth=0.4,
        jobs_peak=1.0,
    ),
    DemoTenant(
        "stark",
        "Stark Industries",
        "10880 Malibu Point\nMalibu, CA 90265\nUSA",
        "pro-annual",
        110,
        -8,
        api_peak=2500,
        users=40,
        storage_gb=60,
        storage_growth=0.3,
        jobs_peak=0.0,
    ),
    DemoTenant(
        "wayne",
        "Wayne Enterprises",
        "1007 Mountain Drive\nGotham, NJ 07001\nUSA",
        "pro",
        100,
        -5,
        api_peak=3000,
        users=55,
        storage_gb=80,
        storage_growth=0.6,
        jobs_peak=2.0,
        resources=("vm-api-1", "vm-api-2"),
        coupon="WELCOME20",
    ),
    DemoTenant(
        "wonka",
        "Wonka Confectionery",
        "1 Chocolate Way\nLondon SE1 7PB\nUnited Kingdom",
        "starter",
        114,
        0,
        api_peak=900,
        users=10,
        storage_gb=5,
        storage_growth=0.04,
        jobs_peak=1.2,
        story="void",
    ),
    DemoTenant(
        "tyrell",
        "Tyrell Corp",
        "2019 Tyrell Tower\nLos Angeles, CA 90012\nUSA",
        "starter",
        120,
        -8,
        api_peak=600,
        users=8,
        storage_gb=4,
        storage_growth=0.02,
        jobs_peak=0.6,
        story="cancel",
    ),
    DemoTenant(
        "cyberdyne",
        "Cyberdyne Systems",
        "18144 El Camino Real\nSunnyvale, CA 94087\nUSA",
        "pro",
        112,
        -8,
        api_peak=2200,
        users=30,
        storage_gb=40,
        storage_growth=0.3,
        jobs_peak=1.5,
        story="pause",
    ),
    DemoTenant(
        "soylent",
        "Soylent Foods GmbH",
        "Friedrichstraße 68\n10117 Berlin\nGermany",
        "pro-eur",
        105,
        1,
        api_peak=2600,
        users=35,
        storage_gb=30,
        storage_growth=0.25,
        jobs_peak=0.0,
        tax_rate="0.19",
    ),
    DemoTenant(
        "aperture",
        "Aperture Science SARL",
        "12 Rue de la Paix\n75002 Paris\nFrance",
        "pro-eur",
        95,
        1,
        api_peak=3400,
        users=45,
        storage_gb=50,
        storage_growth=0.4,
        jobs_peak=0.0,
        tax_rate="0.2",
        resources=("vm-api-1", "bucket-media"),
    ),
]

COUPONS = [
    {
        "code": "WELCOME20",
        "name": "Welcome: 20 % off the first three months",
        "percent_off": Decimal("20"),
        "duration": "repeating",
        "duration_in_periods": 3,
        "max_redemptions": 100,
    },
    {
        "code": "LAUNCH10",
        "name": "Launch week: 10 USD off one invoice",
        "amount_off": Decimal("10.00"),
        "currency": "USD",
        "duration": "once",
        "max_redemptions": 50,
    },
]
COST_CENTER_DETAILS = {
    "platform": ("Platform engineering", Decimal("900.00"), "platform-lead"),
    "data": ("Data & analytics", Decimal("250.00"), "data-lead"),
    "core": ("Core product", Decimal("2500.00"), "cto"),
    "analytics": ("Analytics", Decimal("800.00"), "analytics-lead"),
}


# --- the clock --------------------------------------------------------------------------------


@contextmanager
def _clock(at: datetime):
    """Run the block as if it were `at`: every `timezone.now()` in the services returns `at`."""
    real = timezone.now
    timezone.now = lambda: at
    try:
        yield
    finally:
        timezone.now = real


# --- usage ------------------------------------------------------------------------------------


def _day_shape(local_hour: int) -> float:
    """Return the share of peak traffic at a local hour: low at night, a business-hours hump."""
    return 0.12 + 0.88 * math.exp(-(((local_hour - 14) / 4.2) ** 2))


WEEKDAY_FACTOR = (1.0, 1.06, 1.08, 1.03, 0.92, 0.42, 0.33)  # Monday … Sunday


def _poisson(rng: random.Random, lam: float) -> int:
    """Return a Poisson(lam) draw (Knuth; lam is small here)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def hour_events(spec: DemoTenant, started_at: datetime, hour: datetime) -> list[dict]:
    """Return the usage events of `spec` in the hour starting at `hour` (the same on every call)."""
    rng = random.Random(f"{spec.id}:{hour.isoformat()}")
    days = (hour - started_at).total_seconds() / 86400
    local = hour + timedelta(hours=spec.utc_offset)
    level = _day_shape(local.hour) * WEEKDAY_FACTOR[local.weekday()] * (1 + spec.growth) ** days
    stamp = hour.strftime("%Y%m%d%H")
    events = []

    def at(minute_seconds: int) -> str:
        return (hour + timedelta(seconds=minute_seconds)).isoformat()

    weights = [1.0 / (i + 1) for i in range(len(spec.resources))]
    total_weight = sum(weights)
    calls = spec.api_peak * level * rng.lognormvariate(0, 0.12)
    for i, resource in enumerate(spec.resources):
        event = {
            "event_id": f"demo-{spec.id}-api-{stamp}-{i}",
            "metric": "api_calls",
            "quantity": int(calls * weights[i] / total_weight),
            "timestamp": at(rng.randrange(3600)),
            "resource_id": resource,
        }
        if resource in spec.cost_centers:
            event["cost_center"] = spec.cost_centers[resource]
        events.append(event)
    pool = max(1, int(spec.users * (1 + spec.growth) ** days))
    for k in range(_poisson(rng, min(10.0, 1 + pool / 40) * level)):
        user = int(pool * rng.random() ** 1.6)  # a few heavy users, a long tail
        events.append(
            {
                "event_id": f"demo-{spec.id}-users-{stamp}-{k}",
                "metric": "active_users",
                "timestamp": at(rng.randrange(3600)),
                "properties": {"user_id": f"u{user:04d}"},
            }
        )
    for k in range(_poisson(rng, spec.jobs_peak * level)):
        resource = spec.resources[-1]
        event = {
            "event_id": f"demo-{spec.id}-jobs-{stamp}-{k}",
            "metric": "jobs",
            "timestamp": at(rng.randrange(3600)),
            "resource_id": resource,
        }
        if resource in spec.cost_centers:
            event["cost_center"] = spec.cost_centers[resource]
        events.append(event)
    if hour.hour % 6 == 0:
        gb = spec.storage_gb + spec.storage_growth * days + rng.uniform(-0.3, 0.3) * spec.storage_growth
        events.append(
            {
                "event_id": f"demo-{spec.id}-storage-{stamp}",
                "metric": "storage_gb",
                "quantity": f"{max(gb, 0.1):.2f}",
                "timestamp": at(rng.randrange(600)),
            }
        )
    return events


@dataclass
class _Feed:
    """Where one tenant's usage stands: the next hour to send and the hour it stops (exclusive)."""

    spec: DemoTenant
    started_at: datetime
    next_hour: datetime
    stop: datetime | None = None
    events: int = 0

    def ingest_until(self, until: datetime) -> None:
        """Ingest every event of the whole hours before `until` not sent yet (clock at `until`)."""
        end = until if self.stop is None else min(until, self.stop)
        batch: list[dict] = []
        while self.next_hour + HOUR <= end:
            batch.extend(hour_events(self.spec, self.started_at, self.next_hour))
            self.next_hour += HOUR
            if len(batch) >= MAX_BATCH - 50:
                self._send(batch, until)
                batch = []
        if batch:
            self._send(batch, until)

    def _send(self, events: list[dict], now: datetime) -> None:
        for i in range(0, len(events), MAX_BATCH):
            self.events += usage_ingest(tenant_id=self.spec.id, events=events[i : i + MAX_BATCH], now=now).accepted


# --- the replay -------------------------------------------------------------------------------


@dataclass
class _Replay:
    """The time-ordered queue of things that happen to the demo tenants, and what they produced."""

    now: datetime
    queue: list = field(default_factory=list)
    seq: int = 0
    feeds: dict[str, _Feed] = field(default_factory=dict)
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
            with _clock(when):
                action(self, when, *args)


def _rng(*parts) -> random.Random:
    return random.Random(":".join(str(p) for p in parts))


def _start(spec: DemoTenant, now: datetime) -> datetime:
    return (now - timedelta(days=spec.days_ago)).replace(hour=9, minute=0, second=0, microsecond=0)


def _subscribe(r: _Replay, when: datetime, spec: DemoTenant) -> None:
    sub = subscription_create(tenant_id=spec.id, plan_id=spec.plan, start_date=when, coupon_code=spec.coupon or None)
    r.subs[spec.id] = sub
    r.feeds[spec.id] = _Feed(spec=spec, started_at=when, next_hour=when)
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


def _invoice_run(r: _Replay, when: datetime, spec: DemoTenant, n: int) -> None:
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


def _pay(r: _Replay, when: datetime, invoice_id) -> None:
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status == Invoice.Status.OPEN:
        invoice_transition(
            invoice=invoice, to=Invoice.Status.PAID, error=InvoiceNotOpen, amount_paid=invoice.amount_due, paid_at=when
        )
        r.counts["paid"] += 1


def _void_and_reissue(r: _Replay, when: datetime, spec: DemoTenant, invoice_id) -> None:
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


def _upgrade(r: _Replay, when: datetime, spec: DemoTenant) -> None:
    r.feeds[spec.id].ingest_until(when)
    subscription_change_plan(subscription=r.subs[spec.id], plan_id="business", effective="immediate")


def _pause(r: _Replay, when: datetime, spec: DemoTenant) -> None:
    feed = r.feeds[spec.id]
    feed.ingest_until(when)
    subscription_pause(subscription=r.subs[spec.id])
    feed.stop = when


def _cancel(r: _Replay, when: datetime, spec: DemoTenant) -> None:
    r.feeds[spec.id].ingest_until(when)
    subscription_cancel(subscription=r.subs[spec.id], at_period_end=True)


def _redeem(r: _Replay, when: datetime, spec: DemoTenant, code: str) -> None:
    from coupons.services.redemptions import coupon_redeem

    coupon_redeem(code=code, tenant_id=spec.id)


# --- sections ---------------------------------------------------------------------------------


def _seed_tenants() -> int:
    """Return how many demo tenants were created (existing ones are left as they are)."""
    created = 0
    for spec in DEMO_TENANTS:
        _, was_created = Tenant.objects.get_or_create(
            id=spec.id,
            defaults={
                "name": spec.name,
                "email": spec.email,
                "address": spec.address,
                "tax_rate": Decimal(spec.tax_rate),
            },
        )
        created += was_created
    return created


def _seed_users() -> None:
    User = get_user_model()
    admin, created = User.objects.get_or_create(username=ADMIN_USER, defaults={"is_staff": True, "is_superuser": True})
    if created:
        admin.set_password(ADMIN_PASSWORD)
        admin.save()
    user, created = User.objects.get_or_create(username=TENANT_USER, defaults={"email": "ops@acme.example"})
    if created:
        user.set_password(TENANT_PASSWORD)
        user.save()
    TenantUser.objects.get_or_create(user=user, defaults={"tenant_id": TENANT_USER_TENANT})


def _seed_coupons(at: datetime) -> int:
    from coupons.selectors.coupons import coupon_by_code
    from coupons.services.coupons import coupon_create

    created = 0
    with _clock(at):
        for terms in COUPONS:
            if coupon_by_code(code=terms["code"]) is None:
                coupon_create(**terms)
                created += 1
    return created


def _seed_cost_centers(at: datetime) -> int:
    from costcenters.selectors import cost_center_codes
    from costcenters.services import cost_center_create

    created = 0
    with _clock(at):
        for spec in DEMO_TENANTS:
            existing = cost_center_codes(tenant_id=spec.id)
            for code in dict.fromkeys(spec.cost_centers.values()):
                if code in existing:
                    continue
                name, budget, owner = COST_CENTER_DETAILS[code]
                cost_center_create(
                    tenant_id=spec.id,
                    code=code,
                    name=name,
                    budget=budget,
                    currency="USD",
                    owner_email=f"{owner}@{spec.id}.example",
                    description=f"Monthly budget {budget} USD",
                )
                created += 1
    return created


def _seed_history(now: datetime) -> _Replay | None:
    """Return the replay of every demo tenant without a subscription yet (None when there is none)."""
    have = set(
        Subscription.objects.filter(tenant_id__in=[s.id for s in DEMO_TENANTS]).values_list("tenant_id", flat=True)
    )
    todo = [s for s in DEMO_TENANTS if s.id not in have]
    if not todo:
        return None
    r = _Replay(now=now)
    for spec in todo:
        r.at(_start(spec, now), _subscribe, spec)
    r.run()
    with _clock(now):
        for feed in r.feeds.values():
            feed.ingest_until(now)
        for sub in r.subs.values():  # what the periodic roll does: trials that ended become active
            subscription_roll_if_due(subscription=Subscription.objects.select_related("plan").get(pk=sub.pk), at=now)
    return r


def _seed_quotas() -> int:
    from quotas.models import Quota
    from quotas.services import quota_create

    wanted = [
        ("acme", "api_calls", Decimal("2500000"), Quota.Period.MONTH, Quota.Enforcement.SOFT),
        ("acme", "jobs", Decimal("2000"), Quota.Period.DAY, Quota.Enforcement.HARD),
        ("globex", "api_calls", Decimal("12000000"), Quota.Period.BILLING_PERIOD, Quota.Enforcement.SOFT),
    ]
    created = 0
    for tenant_id, metric, limit, period, enforcement in wanted:
        if Quota.objects.filter(tenant_id=tenant_id, metric_id=metric, enforcement=enforcement).exists():
            continue
        quota_create(
            tenant_id=tenant_id,
            metric=Metric.objects.get(pk=metric),
            limit=limit,
            period=period,
            enforcement=enforcement,
        )
        created += 1
    return created


def _seed_alerts() -> int:
    from costcenters.selectors import cost_center_live
    from realtime.models import Alert
    from realtime.services.alerts import alert_create

    created = 0
    wanted = [
        ("acme", Alert.Type.COST_THRESHOLD, Decimal("600"), None),
        ("acme", Alert.Type.BUDGET_PERCENT, Decimal("80"), "platform"),
        ("globex", Alert.Type.COST_THRESHOLD, Decimal("2000"), None),
    ]
    for tenant_id, kind, threshold, center_code in wanted:
        if Alert.objects.filter(tenant_id=tenant_id, type=kind).exists():
            continue
        center = cost_center_live().get(tenant_id=tenant_id, code=center_code) if center_code else None
        alert_create(tenant_id=tenant_id, type=kind, threshold=threshold, cost_center=center)
        created += 1
    return created


@transaction.atomic
def demo_seed(*, progress=None, now: datetime | None = None) -> dict:
    """Return login details after creating the demo tenants, users and history (idempotent).

    Needs the demo catalog (`billing/fixtures/demo_catalog.json`) loaded. `now` (default: the current
    time) is the end of the replayed history; tests pass a fixed one.
    """
    say = progress or (lambda m: None)
    t0 = time.monotonic()

    def done(message: str) -> None:
        say(f"{message} ({time.monotonic() - t0:.1f}s)")

    now = (now or timezone.now()).astimezone(dt_timezone.utc)
    missing = {s.plan for s in DEMO_TENANTS} - set(Plan.objects.values_list("id", flat=True))
    if missing:
        raise RuntimeError(f"Load the demo catalog first: plans {', '.join(sorted(missing))} are missing.")
    created = _seed_tenants()
    done(f"tenants: {len(DEMO_TENANTS)} ({created} new)")
    _seed_users()
    done(f"users: '{ADMIN_USER}' (finance), '{TENANT_USER}' (tenant {TENANT_USER_TENANT})")
    opening = min(_start(s, now) for s in DEMO_TENANTS) - DAY
    done(f"coupons: {len(COUPONS)} ({_seed_coupons(opening)} new)")
    done(f"cost centers: {_seed_cost_centers(opening)} new")
    replay = _seed_history(now)
    if replay is None:
        done("history: already there (every demo tenant has a subscription)")
    else:
        # A goodwill credit granted today, so a balance shows on acme's subscription and preview.
        credit_grant_create(
            subscription=replay.subs["acme"],
            amount=Decimal("25.00"),
            reason="Service credit: API latency incident",
            expires_at=now + timedelta(days=60),
        )
        replay.counts["credits"] += 1
        events = sum(f.events for f in replay.feeds.values())
        c = replay.counts
        done(
            f"history of {len(replay.subs)} tenants: {events} usage events, {c['invoices']} invoices "
            f"({c['paid']} paid, {c['void']} void), {c['credits']} credit grants"
        )
    done(f"quotas: {_seed_quotas()} new")
    done(f"alerts: {_seed_alerts()} new")
    return {
        "admin_user": ADMIN_USER,
        "admin_password": ADMIN_PASSWORD,
        "tenant_user": TENANT_USER,
        "tenant_password": TENANT_PASSWORD,
        "tenant_id": TENANT_USER_TENANT,
    }
