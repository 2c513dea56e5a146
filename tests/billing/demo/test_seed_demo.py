"""seed_demo: what a new user finds after `make run` (real numbers, every status), and that a second run
changes nothing.

The demo is seeded once for the module (it takes a few seconds) inside a transaction that is rolled
back at the end; each test runs in a savepoint inside it.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils import timezone
from rest_framework.test import APIClient

from billing.demo import DEMO_TENANTS, hour_events
from billing.models import (
    CreditGrant,
    Invoice,
    InvoiceLine,
    Subscription,
    SubscriptionPlanSpan,
    Tenant,
    UsageEvent,
    UsageHourly,
    UsageRollup,
)
from billing.pricing import period_start_n
from billing.selectors.usage import usage_by_metric
from billing.services.usage import usage_ingest
from billing_project.money import quantize

SPECS = {s.id: s for s in DEMO_TENANTS}
BASE = "/api/v1/billing"
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with transaction.atomic():
            out = StringIO()
            before = timezone.now()
            call_command("seed_demo", stdout=out)
            yield SimpleNamespace(output=out.getvalue(), now=before)
            transaction.set_rollback(True)


@pytest.fixture
def demo(seeded, db):
    return seeded


def ended_periods(spec, now: datetime) -> int:
    """Return how many whole periods of the demo tenant's subscription ended (an hour) before `now`."""
    sub = Subscription.objects.select_related("plan").get(tenant_id=spec.id)
    n = 0
    while period_start_n(sub.started_at, sub.plan.interval, n + 1) + timedelta(hours=1) <= now:
        n += 1
    return n


def raw_usage(tenant_id: str, start: datetime, end: datetime) -> dict[str, Decimal]:
    """Return each metric's quantity over [start, end) straight from the raw events."""
    events = UsageEvent.objects.filter(tenant_id=tenant_id, timestamp__gte=start, timestamp__lt=end)
    return {
        "api_calls": events.filter(metric_id="api_calls").aggregate(s=Sum("quantity"))["s"] or Decimal(0),
        "storage_gb": events.filter(metric_id="storage_gb").aggregate(m=Max("quantity"))["m"] or Decimal(0),
        "jobs": Decimal(events.filter(metric_id="jobs").count()),
        "active_users": Decimal(
            len({e["properties"]["user_id"] for e in events.filter(metric_id="active_users").values("properties")})
        ),
    }


def test_the_command_prints_progress_logins_tokens_and_working_curl_examples(demo):
    out = demo.output
    for section in (
        "tenants: 12 (12 new)",
        "coupons: 2 (2 new)",
        "cost centers: 4 new",
        "history of 12 tenants",
        "quotas: 3 new",
        "alerts: 3 new",
    ):
        assert section in out
    assert re.search(
        r"history of 12 tenants: \d{5,} usage events, \d+ invoices \(\d+ paid, 1 void\), "
        r"3 credit grants \(\d+\.\ds\)",
        out,
    )
    assert "user 'finance' password 'finance-demo-123'" in out
    assert "user 'acme-user' password 'acme-demo-123'" in out
    token = re.search(r"TOKEN=(\S+)", out).group(1)
    curls = re.findall(r'curl -H "Authorization: Bearer \$TOKEN" http://127\.0\.0\.1:\d+(\S+)', out)
    assert curls == [f"{BASE}/tenants/acme/billing/preview", f"{BASE}/tenants/acme/invoices"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    preview = client.get(curls[0])
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["tenant_id"] == "acme" and body["currency"] == "USD"
    # The preview shows the usage recorded so far this period, to the unit.
    start = datetime.fromisoformat(body["period_start"].replace("Z", "+00:00"))
    raw = raw_usage("acme", start, timezone.now())
    lines = {line["metric"]: line for line in body["lines"] if line["type"] == "usage"}
    assert Decimal(lines["api_calls"]["quantity"]) == raw["api_calls"] > 0
    assert Decimal(lines["jobs"]["quantity"]) == raw["jobs"]
    assert Decimal(body["subtotal"]) == sum(Decimal(line["amount"]) for line in body["lines"]) >= Decimal("49.00")
    invoices = client.get(curls[1])
    assert invoices.status_code == 200
    assert invoices.json()["count"] == 4
    other = client.get(f"{BASE}/tenants/globex/invoices")
    assert other.status_code == 403


def test_finance_and_tenant_users_can_log_in(demo):
    client = APIClient()
    tenant = client.post("/api/v1/auth/token", {"username": "acme-user", "password": "acme-demo-123"}, format="json")
    assert tenant.status_code == 200, tenant.content
    acme = APIClient()
    acme.credentials(HTTP_AUTHORIZATION=f"Bearer {tenant.json()['access']}")
    assert acme.get(f"{BASE}/tenants/acme/subscription").status_code == 200
    assert acme.get(f"{BASE}/tenants/initech/subscription").status_code == 403
    finance = client.post("/api/v1/auth/token", {"username": "finance", "password": "finance-demo-123"}, format="json")
    assert finance.status_code == 200
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {finance.json()['access']}")
    assert admin.get(f"{BASE}/tenants/initech/invoices").json()["count"] == 3


def test_twelve_tenants_with_every_subscription_status(demo):
    tenants = {t.id: t for t in Tenant.objects.exclude(id="stratos")}  # the cloud tenant: its own test
    assert set(tenants) == set(SPECS)
    assert all(t.name and t.email and "\n" in t.address for t in tenants.values())
    assert tenants["aperture"].tax_rate == Decimal("0.2") and tenants["soylent"].tax_rate == Decimal("0.19")

    subs = {s.tenant_id: s for s in Subscription.objects.exclude(tenant_id="stratos").select_related("plan")}
    assert Counter(s.status for s in subs.values()) == {
        "active": 8,
        "past_due": 1,  # initech: its card was declined, in dunning
        "trialing": 1,
        "paused": 1,
        "canceled": 1,
    }
    assert subs["hooli"].status == "trialing" and subs["hooli"].trial_end > demo.now
    assert subs["stark"].status == "active" and subs["stark"].plan_id == "pro-annual"  # its trial is over
    assert {s.plan_id for s in subs.values()} == {"pro", "starter", "business", "pro-annual", "pro-eur"}
    # Started back-dated, at 09:00 UTC, about four months ago.
    acme = subs["acme"]
    assert (acme.started_at.hour, acme.started_at.minute) == (9, 0)
    assert 124 <= (demo.now - acme.started_at).days <= 125

    tyrell = subs["tyrell"]  # asked to cancel at period end in its second period; ended with it
    assert tyrell.cancel_at_period_end and tyrell.canceled_at < tyrell.ended_at
    assert tyrell.ended_at == period_start_n(tyrell.started_at, "month", 2)
    cyberdyne = subs["cyberdyne"]
    assert 17 <= (demo.now - cyberdyne.paused_at).days <= 18
    umbrella = subs["umbrella"]  # upgraded pro -> business mid-period
    spans = list(SubscriptionPlanSpan.objects.filter(subscription=umbrella).order_by("start"))
    assert [s.plan_id for s in spans] == ["pro", "business"] and spans[0].end == spans[1].start
    assert umbrella.plan_id == "business"


def test_the_cloud_tenant_shows_every_section_14_rule(demo):
    """Stratos: GB-month storage, CPU vs GPU hours, negotiated prices, a setup fee and a minimum."""
    from tests.conftest import make_client

    body = make_client("finance").get(f"{BASE}/tenants/stratos/billing/preview").json()
    kinds = [(ln["type"], ln["description"]) for ln in body["lines"]]
    assert ("usage", "Cloud Enterprise — Object storage") in kinds
    assert ("usage", "Cloud Enterprise — Compute (GPU) (negotiated)") in kinds
    assert ("one_off", "Onboarding and setup fee") in kinds
    assert [t for t, _ in kinds].count("minimum") == 2  # before and after the negotiated prices
    storage = [ln for ln in body["lines"] if ln.get("metric") == "storage_gb_month"]
    assert all(Decimal(ln["quantity"]) > 0 for ln in storage)
    assert Decimal(body["subtotal"]) == sum(Decimal(ln["amount"]) for ln in body["lines"])


def test_every_ended_period_is_invoiced_with_a_realistic_status_mix(demo):
    invoices = list(Invoice.objects.order_by("finalized_at", "number"))
    live = [i for i in invoices if i.status != "void"]
    per_tenant = Counter(i.tenant_id for i in live)
    for spec in DEMO_TENANTS:
        expected = ended_periods(spec, demo.now)
        if spec.story == "cancel":
            expected = 2
        assert per_tenant[spec.id] == expected, spec.id
    assert per_tenant["hooli"] == per_tenant["stark"] == 0
    assert per_tenant["acme"] == 4

    statuses = Counter(i.status for i in invoices)
    assert statuses["void"] == 1 and statuses["paid"] >= 20 and statuses["open"] >= 1 and statuses["draft"] == 0
    # Numbers are gapless per year in finalize order; due 30 days after finalizing.
    by_year: dict[int, list[str]] = {}
    for inv in invoices:
        by_year.setdefault(inv.finalized_at.year, []).append(inv.number)
    for year, numbers in by_year.items():
        assert numbers == [f"INV-{year}-{k:06d}" for k in range(1, len(numbers) + 1)]
    for inv in invoices:
        assert inv.due_at - inv.finalized_at == timedelta(days=30)
        assert inv.finalized_at >= inv.period_end
        assert inv.amount_due == inv.total - inv.credits_applied
        assert inv.total == inv.subtotal - inv.discount + inv.tax
        if inv.status == "paid":
            assert inv.amount_paid == inv.amount_due and inv.finalized_at <= inv.paid_at <= timezone.now()
    overdue = [i for i in invoices if i.status == "open" and i.due_at < demo.now]
    assert [(i.tenant_id, i.period_start) for i in overdue] == [
        ("initech", period_start_n(Subscription.objects.get(tenant_id="initech").started_at, "month", 1))
    ]

    void = next(i for i in invoices if i.status == "void")
    assert void.tenant_id == "wonka" and void.voided_at > void.finalized_at
    reissued = Invoice.objects.get(subscription=void.subscription, period_start=void.period_start, status="paid")
    assert reissued.subtotal == void.subtotal and reissued.credits_applied == Decimal("30.00")
    assert reissued.amount_due == void.amount_due - Decimal("30.00")


def test_coupons_credits_and_tax_show_up_on_the_invoices(demo):
    from coupons.models import Coupon

    coupons = {c.code: c for c in Coupon.objects.all()}
    assert coupons["WELCOME20"].times_redeemed == 2 and coupons["LAUNCH10"].times_redeemed == 1
    assert set(coupons["WELCOME20"].redemptions.values_list("tenant_id", flat=True)) == {"acme", "wayne"}

    acme = list(Invoice.objects.filter(tenant_id="acme").order_by("period_start"))
    for inv in acme[:3]:  # 20 % off the first three periods
        assert inv.discount == quantize(inv.subtotal * Decimal("0.2"), "USD") > 0
    assert acme[3].discount == 0
    initech = [i.discount for i in Invoice.objects.filter(tenant_id="initech").order_by("period_start")]
    assert initech.count(Decimal("10.00")) == 1 and initech.count(Decimal("0")) == 2
    for inv in Invoice.objects.filter(tenant_id__in=["aperture", "soylent"]):
        rate = Decimal("0.2") if inv.tenant_id == "aperture" else Decimal("0.19")
        assert inv.currency == "EUR" and inv.tax == quantize((inv.subtotal - inv.discount) * rate, "EUR") > 0

    grants = {g.tenant_id: g for g in CreditGrant.objects.all()}
    assert set(grants) == {"globex", "wonka", "acme"}
    # acme's goodwill credit is granted today: untouched, and the preview would apply it
    assert grants["acme"].amount == grants["acme"].remaining == Decimal("25.00")
    assert grants["globex"].amount == Decimal("500.00") and grants["globex"].expires_at is None
    assert grants["wonka"].amount == Decimal("30.00") and grants["wonka"].expires_at is not None
    first_globex = Invoice.objects.filter(tenant_id="globex").order_by("period_start").first()
    assert first_globex.credits_applied == Decimal("500.00")
    assert grants["globex"].remaining == 0


def test_usage_has_daily_and_weekly_seasonality_and_stops_when_billing_stops(demo):
    assert set(UsageEvent.objects.values_list("tenant_id", flat=True).distinct()) == set(SPECS) | {"stratos"}
    hourly = UsageHourly.objects.filter(tenant_id="acme", metric_id="api_calls").values_list("hour", "quantity_sum")
    offset = timedelta(hours=SPECS["acme"].utc_offset)
    weekday_peak, weekend, night = [], [], []
    for hour, qty in hourly:
        local = hour + offset
        if local.weekday() >= 5:
            weekend.append(qty)
        elif 12 <= local.hour <= 16:
            weekday_peak.append(qty)
        elif local.hour <= 4:
            night.append(qty)
    avg = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert avg(weekday_peak) > 2 * avg(weekend) and avg(weekday_peak) > 4 * avg(night)
    # Growth: the last full week has more calls than the first one.
    start = Subscription.objects.get(tenant_id="acme").started_at
    week = timedelta(days=7)
    first = raw_usage("acme", start, start + week)["api_calls"]
    last = raw_usage("acme", demo.now - 2 * week, demo.now - week)["api_calls"]
    assert last > Decimal("1.2") * first
    # Storage grows slowly; each tenant has a few resources, acme's tagged with cost centers.
    storage = list(
        UsageEvent.objects.filter(tenant_id="acme", metric_id="storage_gb")
        .order_by("timestamp")
        .values_list("quantity", flat=True)
    )
    assert storage[-1] > storage[0] and max(storage) < 3 * storage[0]
    assert set(
        UsageRollup.objects.filter(tenant_id="acme", metric_id="api_calls")
        .values_list("resource_id", "cost_center")
        .distinct()
    ) == {("vm-api-1", "platform"), ("vm-api-2", "platform"), ("vm-etl-1", "data")}

    tyrell = Subscription.objects.get(tenant_id="tyrell")
    assert not UsageEvent.objects.filter(tenant_id="tyrell", timestamp__gte=tyrell.ended_at).exists()
    cyberdyne = Subscription.objects.get(tenant_id="cyberdyne")
    assert not UsageEvent.objects.filter(tenant_id="cyberdyne", timestamp__gte=cyberdyne.paused_at).exists()
    assert UsageEvent.objects.filter(tenant_id="cyberdyne", timestamp__lt=cyberdyne.paused_at).exists()


def test_rollups_and_invoice_lines_agree_with_the_raw_events(demo):
    inv = Invoice.objects.filter(tenant_id="acme").order_by("period_start")[1]
    raw = raw_usage("acme", inv.period_start, inv.period_end)
    rolled = usage_by_metric(tenant_id="acme", start=inv.period_start, end=inv.period_end)
    assert {code: u.quantity for code, u in rolled.items() if code in raw or u.quantity} == raw
    assert (
        rolled["api_calls"].events
        == UsageEvent.objects.filter(
            tenant_id="acme", metric_id="api_calls", timestamp__gte=inv.period_start, timestamp__lt=inv.period_end
        ).count()
    )
    lines = {line.metric: line.quantity for line in InvoiceLine.objects.filter(invoice=inv, type="usage")}
    assert lines == raw
    assert raw["api_calls"] > 500_000 and 50 <= raw["active_users"] <= 200
    # Every event is counted in exactly one rollup row.
    counts = UsageRollup.objects.filter(tenant_id="acme").aggregate(n=Sum("event_count"))["n"]
    assert counts == UsageEvent.objects.filter(tenant_id="acme").count()


def test_usage_of_an_hour_is_the_same_every_time_and_never_stored_twice(demo):
    spec = SPECS["globex"]
    start = Subscription.objects.get(tenant_id="globex").started_at
    hour = start + timedelta(days=30, hours=5)
    events = hour_events(spec, start, hour)
    assert events == hour_events(spec, start, hour) and len(events) >= 4
    # Re-sending an hour the seed already sent is deduplicated event by event (hooli is in its
    # trial: no finalized period refuses the events first).
    hooli = Subscription.objects.get(tenant_id="hooli").started_at
    again = hour_events(SPECS["hooli"], hooli, hooli + timedelta(days=1, hours=5))
    assert again
    result = usage_ingest(tenant_id="hooli", events=again)
    assert (result.accepted, result.duplicates) == (0, len(again))


def test_cost_centers_quotas_and_alerts(demo):
    from costcenters.models import CostCenter
    from quotas.models import Quota
    from realtime.models import Alert

    centers = {(c.tenant_id, c.code): c for c in CostCenter.objects.all()}
    assert set(centers) == {("acme", "platform"), ("acme", "data"), ("globex", "core"), ("globex", "analytics")}
    assert centers[("acme", "platform")].budget == Decimal("900.00")
    quotas = Counter((q.tenant_id, q.enforcement) for q in Quota.objects.all())
    assert quotas == {("acme", "soft"): 1, ("acme", "hard"): 1, ("globex", "soft"): 1}
    alerts = {(a.tenant_id, a.type): a for a in Alert.objects.all()}
    assert set(alerts) == {("acme", "cost_threshold"), ("acme", "budget_percent"), ("globex", "cost_threshold")}
    assert alerts[("acme", "budget_percent")].cost_center == centers[("acme", "platform")]


def _fingerprint() -> dict:
    from costcenters.models import CostCenter
    from coupons.models import Coupon, CouponRedemption
    from quotas.models import Quota
    from realtime.models import Alert

    return {
        "tenants": Tenant.objects.count(),
        "subscriptions": list(
            Subscription.objects.order_by("tenant_id").values_list(
                "tenant_id", "status", "plan_id", "updated_at", "invoiced_through"
            )
        ),
        "invoices": list(
            Invoice.objects.values("status").annotate(n=Count("id"), due=Sum("amount_due")).order_by("status")
        ),
        "lines": InvoiceLine.objects.count(),
        "events": UsageEvent.objects.count(),
        "rollups": UsageRollup.objects.aggregate(n=Count("id"), q=Sum("quantity_sum")),
        "hourly": UsageHourly.objects.aggregate(n=Count("id"), q=Sum("quantity_sum")),
        "grants": list(CreditGrant.objects.order_by("tenant_id").values_list("tenant_id", "remaining")),
        "coupons": list(Coupon.objects.order_by("code").values_list("code", "times_redeemed")),
        "redemptions": CouponRedemption.objects.count(),
        "cost_centers": CostCenter.objects.count(),
        "quotas": Quota.objects.count(),
        "alerts": Alert.objects.count(),
    }


def test_a_second_run_changes_nothing(demo):
    before = _fingerprint()
    assert before["events"] > 50_000
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert _fingerprint() == before
    text = out.getvalue()
    assert "tenants: 12 (0 new)" in text and "coupons: 2 (0 new)" in text
    assert "history: already there" in text and "quotas: 0 new" in text and "alerts: 0 new" in text


def test_collection_story_saved_card_dunning_and_a_refunded_credit_note(demo):
    from billing.models import CreditNote, PaymentAttempt

    acme, initech = Tenant.objects.get(pk="acme"), Tenant.objects.get(pk="initech")
    assert (acme.payment_method_brand, acme.payment_method_last4) == ("visa", "4242")
    paid = Invoice.objects.filter(tenant=acme, status="paid")
    assert paid.exists() and all(
        i.payment_attempts.get().status == "succeeded" and i.stripe_payment_intent_id for i in paid
    )
    dunning = Invoice.objects.get(tenant=initech, status="open", next_payment_attempt__isnull=False)
    assert dunning.attempt_count == 1 and dunning.next_payment_attempt > demo.now
    assert PaymentAttempt.objects.get(invoice=dunning).failure_code == "card_declined"
    assert Subscription.objects.get(tenant=initech).status == "past_due"
    note = CreditNote.objects.get()
    invoice = note.invoice
    assert note.number.startswith("CN-") and invoice.tenant_id == "acme" and note.refund_status == "succeeded"
    assert note.refund_amount == note.total and note.subtotal + note.tax == note.total
    assert invoice.amount_credited == invoice.amount_refunded == note.total


def test_events_webhook_endpoint_and_billing_emails_for_the_demo(demo):
    from billing.demo.notifications import DEMO_WEBHOOK_URL, NEWS_WINDOW, secret_file
    from notifications.models import EmailMessage, Event, WebhookDelivery, WebhookEndpoint

    endpoint = WebhookEndpoint.objects.get(url=DEMO_WEBHOOK_URL)
    assert endpoint.tenant_id is None and endpoint.event_types == ["*"] and endpoint.enabled
    assert secret_file().read_text().strip() == endpoint.secret
    assert Tenant.objects.get(pk="acme").billing_email == "ap@acme.example"
    types = set(Event.objects.values_list("type", flat=True))
    assert {"subscription.created", "invoice.created", "invoice.finalized", "invoice.paid"} <= types
    assert not Event.objects.filter(processed_at__isnull=True).exists(), "seed_demo dispatched every event"
    cutoff = demo.now - NEWS_WINDOW
    old = Event.objects.filter(created_at__lt=cutoff - timedelta(minutes=1))
    assert old.exists() and not WebhookDelivery.objects.filter(event__in=old).exists(), "history is not news"
    assert not EmailMessage.objects.filter(event__in=old).exists()
    recent = Event.objects.filter(created_at__gte=cutoff)
    assert WebhookDelivery.objects.filter(event__in=recent).count() == recent.count()
