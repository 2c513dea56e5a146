"""Idempotency-Key: replay with the same body, 409 with another, per caller and path."""

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return User.objects.create_user("boss", password="pw-12345678", is_staff=True)


def test_same_key_same_body_replays_the_first_answer(anon, staff):
    body = {"username": "boss", "password": "pw-12345678"}
    first = anon.post("/api/v1/auth/token", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = anon.post("/api/v1/auth/token", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert second["Idempotent-Replayed"] == "true"


def test_same_key_other_body_is_409(anon, staff):
    anon.post(
        "/api/v1/auth/token", {"username": "boss", "password": "pw-12345678"}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    r = anon.post(
        "/api/v1/auth/token", {"username": "boss", "password": "other-pass"}, format="json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "idempotency_key_reused"


def test_without_key_each_post_runs(anon, staff):
    body = {"username": "boss", "password": "pw-12345678"}
    a = anon.post("/api/v1/auth/token", body, format="json")
    b = anon.post("/api/v1/auth/token", body, format="json")
    assert a.status_code == b.status_code == 200
    assert "Idempotent-Replayed" not in b


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_have_one_effect(catalog):
    """Six threads send the same batch with the same key at once: one stores it, the others replay its answer.

    Without the key, the later requests would answer {"accepted": 0, "duplicates": 3}.
    """
    import threading

    from django.db import connections

    from billing.models import UsageEvent
    from tests.conftest import make_client

    body = {"events": [{"event_id": f"idem-{i}", "metric": "api_calls", "quantity": "5"} for i in range(3)]}
    start = threading.Barrier(6)
    answers = []

    def send():
        client = make_client("service", sub="same-caller")
        start.wait()
        try:
            r = client.post(
                "/api/v1/billing/tenants/acme/usage/batch", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1"
            )
            answers.append((r.status_code, r.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [(200, {"accepted": 3, "duplicates": 0})] * 6
    assert UsageEvent.objects.filter(tenant_id="acme").count() == 3
