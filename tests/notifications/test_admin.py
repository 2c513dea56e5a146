"""The back office: events (read-only), endpoints with their deliveries and a test event, the e-mail log."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import EmailMessage, Event, WebhookEndpoint
from tests.notifications.conftest import endpoint_for
from tests.notifications.helpers import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user("fin", password="pw-fin-123", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_events_are_listed_filterable_and_read_only(staff):
    event = record("acme")
    record("globex", type="quota.warning")
    page = staff.get(reverse("admin:notifications_event_changelist") + "?type=quota.warning")
    assert page.status_code == 200
    assert b"quota.warning" in page.content and str(event.id).encode() not in page.content
    detail = staff.get(reverse("admin:notifications_event_change", args=[event.pk]))
    assert detail.status_code == 200 and b"cost_threshold" in detail.content
    assert staff.get(reverse("admin:notifications_event_add")).status_code == 403
    staff.post(reverse("admin:notifications_event_delete", args=[event.pk]), {"post": "yes"})
    assert Event.objects.filter(pk=event.pk).exists()


def test_an_endpoint_shows_its_deliveries_and_sends_a_test_event(
    staff, receiver_factory, django_capture_on_commit_callbacks
):
    receiver = receiver_factory(answers=[500])
    endpoint = endpoint_for(receiver, tenant_id="acme")
    with django_capture_on_commit_callbacks(execute=True):
        record("acme")
    page = staff.get(reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200
    assert b"alert.triggered" in page.content and b"HTTP 500" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        r = staff.post(
            reverse("admin:notifications_webhookendpoint_changelist"),
            {"action": "send_test_event", "_selected_action": [str(endpoint.pk)]},
        )
    assert r.status_code == 302
    test = receiver.received[-1]
    assert test.verified and test.json["type"] == "webhook_endpoint.test"
    assert test.json["data"]["object"]["endpoint_id"] == str(endpoint.pk)


def test_a_disabled_endpoint_is_flagged_in_the_list(staff):
    WebhookEndpoint.objects.create(
        url="https://93.184.215.14/h",
        tenant_id="acme",
        event_types=["*"],
        secret="whsec_eA==",
        enabled=False,
        disabled_reason="Every delivery failed for 5 days.",
        disabled_at="2026-03-01T00:00:00Z",
    )
    page = staff.get(reverse("admin:notifications_webhookendpoint_changelist"), follow=True)
    assert b"disabled" in page.content and b"failing every delivery" in page.content


def test_the_email_log_resends(staff, settings, tenant, django_capture_on_commit_callbacks):
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    message = EmailMessage.objects.create(
        kind="alert",
        tenant_id="acme",
        to="ops@acme.test",
        subject="Alert triggered: cost threshold",
        context={"object": {"type": "cost_threshold", "threshold": "5"}, "tenant_name": "Acme"},
        status="failed",
        attempts=6,
        error="SMTPServerDisconnected",
    )
    page = staff.get(reverse("admin:notifications_emailmessage_changelist") + "?status=failed")
    assert page.status_code == 200 and b"ops@acme.test" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(
            reverse("admin:notifications_emailmessage_changelist"),
            {"action": "resend", "_selected_action": [str(message.pk)]},
        )
    copy = EmailMessage.objects.exclude(pk=message.pk).get()
    assert copy.status == "sent" and copy.resent_from_id == message.pk
    assert [m.to for m in mail.outbox] == [["ops@acme.test"]]
