"""Subscription lifecycle through the API: create, get, list, trial, plan changes, cancel, reactivate,
pause/resume, the 409s of wrong states, roles, and tenant isolation."""

from datetime import timedelta

import pytest

from billing.models import Plan, Subscription, SubscriptionPause, SubscriptionPlanSpan, Tenant
from billing.signals import subscription_ended_now

from .conftest import BASE, utc

pytestmark = pytest.mark.django_db

SUB_KEYS = {
    "id",
    "tenant_id",
    "plan_id",
    "status",
    "currency",
    "started_at",
    "current_period_start",
    "current_period_end",
    "trial_end",
    "cancel_at_period_end",
    "canceled_at",
    "ended_at",
    "paused_at",
    "resume_at",
    "scheduled_plan_id",
    "discount",
    "created_at",
    "credit_balance",
}


@pytest.fixture
def acme(as_):
    return as_("tenant", "acme")


@pytest.fixture
def fin(as_):
    return as_("finance")


def create(client, tenant_id="acme", **body):
    return client.post(f"{BASE}/tenants/{tenant_id}/subscriptions", body, format="json")


def act(client, sub_id, action, **body):
    return client.post(f"{BASE}/subscriptions/{sub_id}/{action}", body, format="json")


def code(resp):
    return resp.json()["errors"][0]["code"]


def attr(resp):
    return resp.json()["errors"][0]["attr"]


def live(client, tenant_id="acme"):
    return client.get(f"{BASE}/tenants/{tenant_id}/subscription")


# --- create, get, list -------------------------------------------------------------------------


def test_create_with_the_plans_trial_creates_the_billing_account(catalog, clock, acme):
    assert not Tenant.objects.filter(id="acme").exists()
    clock.set(utc(2026, 3, 10, 9, 30))
    r = create(acme, plan_id="pro")
    assert r.status_code == 201, r.json()
    sub = r.json()
    assert set(sub) == SUB_KEYS
    assert sub["tenant_id"] == "acme" and sub["plan_id"] == "pro" and sub["currency"] == "USD"
    assert sub["status"] == "trialing"
    assert sub["started_at"] == "2026-03-10T09:30:00Z"
    assert sub["trial_end"] == "2026-03-24T09:30:00Z"  # the plan's 14 days
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2026-03-10T09:30:00Z", "2026-04-10T09:30:00Z")
    assert sub["cancel_at_period_end"] is False and sub["scheduled_plan_id"] is None
    assert sub["discount"] is None and sub["credit_balance"] == "0.00"
    assert Tenant.objects.filter(id="acme").exists()
    assert live(acme).json() == sub


def test_trial_days_override_and_trial_end_makes_it_active(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub = create(acme, plan_id="pro", trial_days=3).json()
    assert sub["status"] == "trialing" and sub["trial_end"] == "2026-03-04T00:00:00Z"
    clock.set(utc(2026, 3, 4) - timedelta(seconds=1))
    assert live(acme).json()["status"] == "trialing"
    clock.set(utc(2026, 3, 4))
    assert live(acme).json()["status"] == "active"
    assert Subscription.objects.get(pk=sub["id"]).status == "active"
    # Still the tenant's one live subscription: a second create is refused.
    r = create(acme, plan_id="pro")
    assert r.status_code == 409 and code(r) == "subscription_exists"


def test_no_trial_starts_active(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub = create(acme, plan_id="pro", trial_days=0).json()
    assert sub["status"] == "active" and sub["trial_end"] is None


def test_second_live_subscription_is_409_and_a_db_race_is_409_too(catalog, clock, acme, monkeypatch):
    clock.set(utc(2026, 3, 1))
    first = create(acme, plan_id="starter")
    assert first.status_code == 201
    r = create(acme, plan_id="pro")
    assert r.status_code == 409 and code(r) == "subscription_exists"
    # A racing request passes the pre-check; the partial unique index still refuses it: 409, not 500.
    import billing.services.subscriptions as services

    real_filter = Subscription.objects.filter

    class NoneFound:
        def exclude(self, **kw):
            return self

        def first(self):
            return None

    def blind_filter(*args, **kwargs):
        if kwargs.get("tenant") is not None:
            return NoneFound()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(services.Subscription.objects, "filter", blind_filter)
    r = create(acme, plan_id="pro")
    assert r.status_code == 409 and code(r) == "subscription_exists"
    monkeypatch.undo()
    assert Subscription.objects.filter(tenant_id="acme").count() == 1


def test_list_newest_first_with_status_filter_and_pagination(catalog, clock, acme):
    ids = []
    for day, plan in [(1, "starter"), (2, "pro"), (3, "business")]:
        clock.set(utc(2026, 3, day))
        r = create(acme, plan_id=plan, trial_days=0)
        assert r.status_code == 201
        ids.append(r.json()["id"])
        if day < 3:
            assert act(acme, ids[-1], "cancel", at_period_end=False).status_code == 200
    body = acme.get(f"{BASE}/tenants/acme/subscriptions").json()
    assert body["count"] == 3 and [s["id"] for s in body["results"]] == ids[::-1]
    canceled = acme.get(f"{BASE}/tenants/acme/subscriptions?status=canceled").json()
    assert [s["id"] for s in canceled["results"]] == ids[1::-1]
    assert [s["status"] for s in canceled["results"]] == ["canceled", "canceled"]
    page = acme.get(f"{BASE}/tenants/acme/subscriptions?limit=1&offset=1").json()
    assert [s["id"] for s in page["results"]] == [ids[1]] and page["next"] and page["previous"]
    r = acme.get(f"{BASE}/tenants/acme/subscriptions?status=bogus")
    assert r.status_code == 400
    assert live(acme).json()["id"] == ids[2]


def test_get_without_subscription_is_404(catalog, clock, acme):
    r = live(acme)
    assert r.status_code == 404
    assert acme.get(f"{BASE}/tenants/acme/subscriptions").json()["count"] == 0


@pytest.mark.parametrize(
    "body, status, field, err",
    [
        ({"plan_id": "nope"}, 400, "plan_id", "unknown_plan"),
        ({}, 400, "plan_id", "required"),
        ({"plan_id": "pro", "trial_days": -1}, 400, "trial_days", "min_value"),
        ({"plan_id": "pro", "start_date": "yesterday"}, 400, "start_date", "invalid_datetime"),
        ({"plan_id": "pro", "start_date": "2026-04-01"}, 400, "start_date", "start_date_in_future"),
    ],
)
def test_create_validation(catalog, clock, acme, body, status, field, err):
    clock.set(utc(2026, 3, 10))
    r = create(acme, **body)
    assert r.status_code == status and attr(r) == field and code(r) == err
    assert not Subscription.objects.exists()


def test_inactive_plan_is_400(catalog, clock, acme):
    Plan.objects.filter(id="starter").update(active=False)
    r = create(acme, plan_id="starter")
    assert r.status_code == 400 and attr(r) == "plan_id" and code(r) == "inactive_plan"


def test_back_dating_is_finance_only_and_clamps_month_ends(catalog, clock, acme, fin):
    clock.set(utc(2026, 3, 15, 12))
    r = create(acme, plan_id="starter", start_date="2026-01-31")
    assert r.status_code == 403 and not Subscription.objects.exists()
    r = create(fin, plan_id="starter", start_date="2026-01-31T00:00:00Z")
    assert r.status_code == 201, r.json()
    sub = r.json()
    # Jan 31 → Feb 28 → Mar 31: the period containing Mar 15 is [Feb 28, Mar 31).
    assert sub["started_at"] == "2026-01-31T00:00:00Z" and sub["status"] == "active"
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z")
    db = Subscription.objects.get(pk=sub["id"])
    assert db.invoiced_through == utc(2026, 1, 31)  # ended periods wait for invoicing
    clock.set(utc(2026, 3, 31))
    assert (live(acme).json()["current_period_start"], live(acme).json()["current_period_end"]) == (
        "2026-03-31T00:00:00Z",
        "2026-04-30T00:00:00Z",
    )
    assert Subscription.objects.get(pk=sub["id"]).invoiced_through == utc(2026, 1, 31)


def test_back_dated_trial_already_over_is_active_and_yearly_periods(catalog, clock, fin):
    clock.set(utc(2026, 3, 15))
    sub = create(fin, plan_id="pro-annual", start_date="2024-02-29").json()
    assert sub["status"] == "active" and sub["trial_end"] == "2024-03-14T00:00:00Z"
    # Leap day anchor: yearly periods start Feb 28 in common years.
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2026-02-28T00:00:00Z", "2027-02-28T00:00:00Z")


# --- change plan ------------------------------------------------------------------------------


def test_change_plan_immediately_splits_the_history(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 16))
    r = act(acme, sub_id, "change-plan", plan_id="business")
    assert r.status_code == 200 and r.json()["plan_id"] == "business" and r.json()["scheduled_plan_id"] is None
    spans = list(SubscriptionPlanSpan.objects.filter(subscription_id=sub_id).values_list("plan_id", "start", "end"))
    assert spans == [("starter", utc(2026, 3, 1), utc(2026, 3, 16)), ("business", utc(2026, 3, 16), None)]


@pytest.mark.parametrize(
    "plan, err",
    [
        ("pro-eur", "currency_mismatch"),
        ("pro-annual", "interval_mismatch"),
        ("nope", "unknown_plan"),
        ("starter", "same_plan"),
    ],
)
def test_change_plan_refusals(catalog, clock, acme, plan, err):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    r = act(acme, sub_id, "change-plan", plan_id=plan)
    assert r.status_code == 400 and attr(r) == "plan_id" and code(r) == err
    assert Subscription.objects.get(pk=sub_id).plan_id == "starter"


def test_change_plan_to_inactive_plan_is_400(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    Plan.objects.filter(id="business").update(active=False)
    r = act(acme, sub_id, "change-plan", plan_id="business", effective="period_end")
    assert r.status_code == 400 and code(r) == "inactive_plan"


def test_scheduled_change_switches_at_the_next_period_start(catalog, clock, acme):
    clock.set(utc(2026, 1, 31))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 2, 10))
    r = act(acme, sub_id, "change-plan", plan_id="pro", effective="period_end")
    assert r.status_code == 200
    assert r.json()["plan_id"] == "starter" and r.json()["scheduled_plan_id"] == "pro"
    clock.set(utc(2026, 2, 27, 23, 59, 59))
    assert live(acme).json()["plan_id"] == "starter"
    clock.set(utc(2026, 2, 28))  # Jan 31 + 1 month, clamped
    sub = live(acme).json()
    assert sub["plan_id"] == "pro" and sub["scheduled_plan_id"] is None
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z")
    spans = list(SubscriptionPlanSpan.objects.filter(subscription_id=sub_id).values_list("plan_id", "start", "end"))
    assert spans == [("starter", utc(2026, 1, 31), utc(2026, 2, 28)), ("pro", utc(2026, 2, 28), None)]
    # The new period's preview bills Pro only.
    clock.set(utc(2026, 3, 1))
    preview = acme.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert {line["plan_id"] for line in preview["lines"]} == {"pro"}


def test_scheduling_the_current_plan_withdraws_a_pending_change(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    act(acme, sub_id, "change-plan", plan_id="pro", effective="period_end")
    r = act(acme, sub_id, "change-plan", plan_id="starter", effective="period_end")
    assert r.status_code == 200 and r.json()["scheduled_plan_id"] is None
    # An immediate change drops a pending scheduled one.
    act(acme, sub_id, "change-plan", plan_id="pro", effective="period_end")
    r = act(acme, sub_id, "change-plan", plan_id="business")
    assert r.json()["plan_id"] == "business" and r.json()["scheduled_plan_id"] is None


# --- cancel and reactivate ----------------------------------------------------------------------


def test_cancel_at_period_end_then_it_ends_with_the_period(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 20))
    r = act(acme, sub_id, "cancel")  # default at_period_end: true
    assert r.status_code == 200
    sub = r.json()
    assert sub["status"] == "active" and sub["cancel_at_period_end"] is True
    assert sub["canceled_at"] == "2026-03-20T00:00:00Z" and sub["ended_at"] is None
    clock.set(utc(2026, 4, 2))
    assert live(acme).status_code == 404
    [ended] = acme.get(f"{BASE}/tenants/acme/subscriptions").json()["results"]
    assert ended["status"] == "canceled" and ended["ended_at"] == "2026-04-01T00:00:00Z"
    assert (ended["current_period_start"], ended["current_period_end"]) == (
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    )
    assert acme.get(f"{BASE}/tenants/acme/billing/preview").status_code == 404


def test_reactivate_withdraws_a_pending_cancellation(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    act(acme, sub_id, "cancel", at_period_end=True)
    r = act(acme, sub_id, "reactivate")
    assert r.status_code == 200
    assert r.json()["cancel_at_period_end"] is False and r.json()["canceled_at"] is None
    assert r.json()["status"] == "active"
    clock.set(utc(2026, 4, 2))
    assert live(acme).json()["status"] == "active"
    r = act(acme, sub_id, "reactivate")  # nothing pending any more
    assert r.status_code == 409 and code(r) == "subscription_not_reactivatable"


def test_cancel_now_ends_it_and_signals_the_final_invoice(catalog, clock, acme, django_capture_on_commit_callbacks):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    received = []

    def receiver(sender, subscription_id, ended_at, **kwargs):
        received.append((str(subscription_id), ended_at))

    subscription_ended_now.connect(receiver)
    try:
        clock.set(utc(2026, 3, 11, 6))
        with django_capture_on_commit_callbacks(execute=True):
            r = act(acme, sub_id, "cancel", at_period_end=False)
    finally:
        subscription_ended_now.disconnect(receiver)
    assert r.status_code == 200
    sub = r.json()
    assert sub["status"] == "canceled" and sub["ended_at"] == "2026-03-11T06:00:00Z"
    assert sub["canceled_at"] == "2026-03-11T06:00:00Z" and sub["cancel_at_period_end"] is False
    assert received == [(sub_id, utc(2026, 3, 11, 6))]
    # Every action on a canceled subscription but reactivate is a 409.
    for action, body in [
        ("cancel", {}),
        ("cancel", {"at_period_end": False}),
        ("pause", {}),
        ("resume", {}),
        ("change-plan", {"plan_id": "pro"}),
    ]:
        r = act(acme, sub_id, action, **body)
        assert r.status_code == 409, (action, r.json())
    assert code(act(acme, sub_id, "cancel")) == "subscription_canceled"
    assert code(act(acme, sub_id, "pause")) == "subscription_not_pausable"
    assert code(act(acme, sub_id, "resume")) == "subscription_not_paused"


def test_cancel_now_cuts_the_billed_period(catalog, clock, acme):
    from billing.selectors.calculation import period_bill

    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 11))
    act(acme, sub_id, "cancel", at_period_end=False)
    sub = Subscription.objects.get(pk=sub_id)
    bill = period_bill(
        subscription=sub, period_start=sub.current_period_start, period_end=sub.current_period_end, cutoff=None
    )
    base = bill.lines[0]
    # 19.00 × 10/31 days = 6.129… → 6.13; the line ends at the cancellation.
    assert (base.amount, base.period_end) == (base.amount.__class__("6.13"), utc(2026, 3, 11))
    assert bill.totals.total == base.amount.__class__("6.13")


def test_reactivate_a_canceled_subscription_starts_a_new_period_now(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 11))
    act(acme, sub_id, "cancel", at_period_end=False)
    clock.set(utc(2026, 5, 7, 8))
    r = act(acme, sub_id, "reactivate")
    assert r.status_code == 200, r.json()
    sub = r.json()
    assert sub["status"] == "active" and sub["ended_at"] is None and sub["canceled_at"] is None
    assert sub["started_at"] == "2026-05-07T08:00:00Z"
    assert (sub["current_period_start"], sub["current_period_end"]) == ("2026-05-07T08:00:00Z", "2026-06-07T08:00:00Z")
    assert Subscription.objects.get(pk=sub_id).invoiced_through == utc(2026, 5, 7, 8)
    clock.set(utc(2026, 5, 8, 8))
    preview = acme.get(f"{BASE}/tenants/acme/billing/preview").json()
    assert preview["period_start"] == "2026-05-07T08:00:00Z" and preview["lines"][0]["plan_id"] == "starter"
    # One day of 31 (May 7 → Jun 7): 19.00 / 31 = 0.6129… → 0.61; nothing from before the cancellation.
    assert preview["lines"][0]["amount"] == "0.61" and preview["subtotal"] == "0.61"


def test_reactivate_refused_when_another_subscription_is_live(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    old = create(acme, plan_id="starter").json()["id"]
    act(acme, old, "cancel", at_period_end=False)
    clock.set(utc(2026, 3, 2))
    assert create(acme, plan_id="pro").status_code == 201
    r = act(acme, old, "reactivate")
    assert r.status_code == 409 and code(r) == "subscription_exists"
    assert Subscription.objects.get(pk=old).status == "canceled"


# --- pause and resume -----------------------------------------------------------------------------


def test_pause_and_resume_by_hand(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 5))
    r = act(acme, sub_id, "pause")
    assert r.status_code == 200
    assert r.json()["status"] == "paused" and r.json()["paused_at"] == "2026-03-05T00:00:00Z"
    assert r.json()["resume_at"] is None
    r = act(acme, sub_id, "pause")
    assert r.status_code == 409 and code(r) == "subscription_not_pausable"
    clock.set(utc(2026, 3, 8))
    r = act(acme, sub_id, "resume")
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["paused_at"] is None
    r = act(acme, sub_id, "resume")
    assert r.status_code == 409 and code(r) == "subscription_not_paused"
    pauses = list(SubscriptionPause.objects.filter(subscription_id=sub_id).values_list("start", "end"))
    assert pauses == [(utc(2026, 3, 5), utc(2026, 3, 8))]


def test_pause_with_resume_at_is_resumed_by_the_periodic_task(catalog, clock, acme):
    from billing.tasks.subscriptions import subscriptions_resume_due

    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 5))
    r = act(acme, sub_id, "pause", resume_at="2026-03-09T12:00:00Z")
    assert r.json()["status"] == "paused" and r.json()["resume_at"] == "2026-03-09T12:00:00Z"
    clock.set(utc(2026, 3, 9, 11, 59))
    assert subscriptions_resume_due.delay().get() == 0
    assert Subscription.objects.get(pk=sub_id).status == "paused"
    clock.set(utc(2026, 3, 9, 12, 1))
    assert subscriptions_resume_due.delay().get() == 1
    sub = Subscription.objects.get(pk=sub_id)
    assert (sub.status, sub.paused_at, sub.resume_at) == ("active", None, None)
    # Resumed at resume_at, not when the task happened to run.
    assert list(SubscriptionPause.objects.filter(subscription_id=sub_id).values_list("end", flat=True)) == [
        utc(2026, 3, 9, 12)
    ]
    assert subscriptions_resume_due.delay().get() == 0


def test_pause_resume_at_must_be_future(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    r = act(acme, sub_id, "pause", resume_at="2026-02-28")
    assert r.status_code == 400 and attr(r) == "resume_at" and code(r) == "resume_at_in_past"
    assert Subscription.objects.get(pk=sub_id).status == "active"


def test_pause_during_trial_resumes_to_trialing_or_active(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="pro").json()["id"]  # trial until Mar 15
    clock.set(utc(2026, 3, 3))
    assert act(acme, sub_id, "pause").json()["status"] == "paused"
    clock.set(utc(2026, 3, 4))
    assert act(acme, sub_id, "resume").json()["status"] == "trialing"
    assert act(acme, sub_id, "pause").json()["status"] == "paused"
    clock.set(utc(2026, 3, 20))  # the trial ended while paused: stays paused, resumes active
    assert live(acme).json()["status"] == "paused"
    assert act(acme, sub_id, "resume").json()["status"] == "active"


def test_paused_subscription_set_to_cancel_ends_with_the_period(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 25))
    act(acme, sub_id, "pause")
    assert act(acme, sub_id, "cancel").json()["cancel_at_period_end"] is True
    clock.set(utc(2026, 4, 3))
    sub = Subscription.objects.get(pk=sub_id)
    assert live(acme).status_code == 404
    sub.refresh_from_db()
    assert (sub.status, sub.ended_at, sub.paused_at) == ("canceled", utc(2026, 4, 1), None)
    assert list(SubscriptionPause.objects.filter(subscription_id=sub_id).values_list("end", flat=True)) == [
        utc(2026, 4, 1)
    ]


# --- roles and isolation ---------------------------------------------------------------------------


def test_roles_and_tenant_isolation(catalog, clock, as_, acme, fin):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    service = as_("service")
    globex = as_("tenant", "globex")
    paths_get = [
        f"{BASE}/tenants/acme/subscription",
        f"{BASE}/tenants/acme/subscriptions",
        f"{BASE}/tenants/acme/billing/preview",
        f"{BASE}/tenants/acme/billing/estimate",
    ]
    for path in paths_get:
        assert service.get(path).status_code == 403, path
        assert globex.get(path).status_code == 403, path
        assert acme.get(path).status_code == 200, path
        assert fin.get(path).status_code == 200, path
    assert create(service, plan_id="pro").status_code == 403
    assert create(globex, plan_id="pro").status_code == 403
    for action, body in [
        ("change-plan", {"plan_id": "pro"}),
        ("cancel", {}),
        ("reactivate", {}),
        ("pause", {}),
        ("resume", {}),
    ]:
        assert act(service, sub_id, action, **body).status_code == 403, action
        r = act(globex, sub_id, action, **body)
        assert r.status_code == 404 and code(r) == "not_found", action
    assert act(acme, "00000000-0000-0000-0000-000000000000", "pause").status_code == 404
    assert Subscription.objects.get(pk=sub_id).status == "active"
    # Finance acts on any tenant's subscription.
    assert act(fin, sub_id, "pause").json()["status"] == "paused"
    assert act(fin, sub_id, "resume").json()["status"] == "active"
    # Finance creates for any tenant (its billing account appears).
    assert create(fin, tenant_id="initech", plan_id="starter").status_code == 201
    r = create(fin, tenant_id="bad*tenant", plan_id="starter")
    assert r.status_code == 400 and attr(r) == "tenant_id" and code(r) == "invalid_tenant_id"


def test_actions_with_an_idempotency_key_happen_once(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    first = acme.post(f"{BASE}/subscriptions/{sub_id}/pause", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = acme.post(f"{BASE}/subscriptions/{sub_id}/pause", {}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert SubscriptionPause.objects.filter(subscription_id=sub_id).count() == 1


def test_admin_lists_subscriptions_with_their_history(catalog, clock, acme, client, django_user_model):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    clock.set(utc(2026, 3, 10))
    act(acme, sub_id, "change-plan", plan_id="pro")
    act(acme, sub_id, "pause")
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-123456789")
    client.force_login(admin)
    page = client.get("/admin/billing/subscription/?status__exact=paused&q=acme")
    assert page.status_code == 200
    assert b"acme" in page.content and b"2026-03-01 00:00 \xe2\x86\x92 2026-04-01 00:00" in page.content
    detail = client.get(f"/admin/billing/subscription/{sub_id}/change/")
    assert detail.status_code == 200
    assert b"plan history" in detail.content.lower() and b"Pro (pro)" in detail.content


def test_past_due_cannot_pause_or_resume_but_can_change_plan_and_cancel(catalog, clock, acme):
    clock.set(utc(2026, 3, 1))
    sub_id = create(acme, plan_id="starter").json()["id"]
    Subscription.objects.filter(pk=sub_id).update(status="past_due")  # a failed payment (invoices area)
    r = act(acme, sub_id, "pause")
    assert r.status_code == 409 and code(r) == "subscription_not_pausable"
    r = act(acme, sub_id, "resume")
    assert r.status_code == 409 and code(r) == "subscription_not_paused"
    assert act(acme, sub_id, "change-plan", plan_id="pro").json()["status"] == "past_due"
    clock.set(utc(2026, 3, 2))
    r = act(acme, sub_id, "cancel", at_period_end=False)
    assert r.status_code == 200 and r.json()["status"] == "canceled"
