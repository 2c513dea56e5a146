"""Dunning: retries on BILLING_RETRY_SCHEDULE driven by the beat sweep, the final action, concurrency."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Invoice, PaymentAttempt, Subscription
from billing.services.payments.collect import invoice_collect
from billing.services.payments.dunning import payment_retry_claim
from billing.services.payments.sweep import payments_sweep
from tests.billing.stripe.test_collection import intents, with_card
from tests.conftest import make_client

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing"


@pytest.fixture
def declined(clock, tenant, subscription, make_invoice, stripe_emulator):
    """Return an invoice whose automatic charge was just declined (at the frozen `clock` time)."""
    clock.set(clock.now().replace(microsecond=0))
    with_card(tenant, stripe_emulator, "4000000000000341")
    invoice = make_invoice(tenant, subscription=subscription)
    assert invoice_collect(invoice_id=invoice.pk).status == "failed"
    invoice.refresh_from_db()
    return invoice


def test_retries_follow_the_schedule_and_succeed_once_the_card_is_replaced(
    clock, declined, tenant, subscription, stripe_emulator
):
    start = clock.now()
    assert declined.next_payment_attempt == start + timedelta(days=3)
    assert Subscription.objects.get(pk=subscription.pk).status == "past_due"

    clock.set(start + timedelta(days=2))
    assert payments_sweep()["retries"] == 0  # not due yet

    clock.set(start + timedelta(days=3, minutes=1))
    assert payments_sweep()["retries"] == 1
    assert payments_sweep()["retries"] == 0  # a re-run finds nothing due
    declined.refresh_from_db()
    assert declined.attempt_count == 2 and declined.next_payment_attempt == start + timedelta(days=5)

    # The tenant replaces the card; the next retry succeeds.
    assert with_card(tenant, stripe_emulator).payment_method_last4 == "4242"
    clock.set(start + timedelta(days=5, minutes=1))
    assert payments_sweep()["retries"] == 1
    declined.refresh_from_db()
    assert (
        declined.status == "paid" and declined.amount_paid == Decimal("49.00") and declined.next_payment_attempt is None
    )
    assert Subscription.objects.get(pk=subscription.pk).status == "active"
    statuses = list(PaymentAttempt.objects.filter(invoice=declined).values_list("trigger", "status"))
    assert statuses == [("automatic", "failed"), ("retry", "failed"), ("retry", "succeeded")]
    assert [i["status"] for i in intents(stripe_emulator)].count("succeeded") == 1


@pytest.mark.parametrize("action", ["none", "uncollectible", "cancel"])
def test_final_action_after_the_last_retry(settings, clock, declined, subscription, action):
    settings.BILLING_DUNNING_FINAL_ACTION = action
    start = clock.now()
    for day in (3, 5, 7):
        clock.set(start + timedelta(days=day, minutes=1))
        assert payments_sweep()["retries"] == 1
    declined.refresh_from_db()
    assert declined.attempt_count == 4 and declined.next_payment_attempt is None
    assert declined.dunning_exhausted_at == start + timedelta(days=7, minutes=1)
    clock.set(start + timedelta(days=30))
    assert payments_sweep()["retries"] == 0
    sub = Subscription.objects.get(pk=subscription.pk)
    expected = {
        "none": ("open", "past_due"),
        "uncollectible": ("uncollectible", "past_due"),
        "cancel": ("open", "canceled"),
    }[action]
    assert (declined.status, sub.status) == expected


@pytest.mark.django_db(transaction=True)
def test_two_beat_processes_claim_a_due_retry_once(clock, tenant, subscription, make_invoice):
    invoice = make_invoice(tenant, subscription=subscription)
    Invoice.objects.filter(pk=invoice.pk).update(
        attempt_count=1, next_payment_attempt=clock.now() - timedelta(minutes=1), dunning_started_at=clock.now()
    )
    tenant.default_payment_method_id = "pm_x"
    tenant.save()
    barrier, results = threading.Barrier(2), []

    def beat():
        try:
            barrier.wait()
            results.append(payment_retry_claim(invoice_id=invoice.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert PaymentAttempt.objects.filter(invoice=invoice, trigger="retry").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pays_charge_once(tenant, make_invoice, stripe_emulator):
    with_card(tenant, stripe_emulator)
    invoice = make_invoice(tenant)
    barrier, answers = threading.Barrier(2), []

    def pay():
        try:
            client = make_client("tenant", "acme")
            barrier.wait()
            r = client.post(f"{BASE}/invoices/{invoice.id}/pay")
            answers.append(
                (r.status_code, r.json().get("errors", [{}])[0].get("code") if r.status_code != 200 else "paid")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers)[0] == (200, "paid")
    assert sorted(answers)[1] in {(409, "invoice_payment_underway"), (409, "invoice_not_payable")}
    assert len(intents(stripe_emulator)) == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.amount_paid == Decimal("49.00")
