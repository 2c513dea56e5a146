"""Payment attempts on /metrics, by outcome, against the Stripe emulator."""

import pytest

from tests.billing.stripe.test_collection import pay, with_card

pytestmark = pytest.mark.django_db


def test_a_declined_and_a_paid_attempt_move_their_outcomes(
    api, tenant, subscription, make_invoice, stripe_emulator, scrape, django_capture_on_commit_callbacks
):
    declined = make_invoice(tenant, subscription=subscription)
    with_card(tenant, stripe_emulator, "4000000000000341")
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        assert pay(api("finance"), declined).status_code == 402
    failed = scrape()
    assert failed.since(before, "billing_payment_attempts_total", outcome="failed") == 1
    assert failed.since(before, "billing_payment_attempts_total", outcome="succeeded") == 0
    assert failed.value("billing_dunning_queue_length") == 1  # the declined invoice waits for its retry

    with_card(tenant, stripe_emulator)  # a working card replaces it
    with django_capture_on_commit_callbacks(execute=True):
        assert pay(api("finance"), declined).status_code == 200
    paid = scrape()
    assert paid.since(failed, "billing_payment_attempts_total", outcome="succeeded") == 1
    assert paid.since(failed, "billing_payment_attempts_total", outcome="failed") == 0
    assert paid.value("billing_dunning_queue_length") == 0
