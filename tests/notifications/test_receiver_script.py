"""The demo's receiver script (scripts/webhook_receiver.py) verifies and prints what the service sends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from notifications.models import WebhookDelivery
from notifications.services.endpoints import webhook_endpoint_create
from tests.notifications.helpers import record
from tests.notifications.smtp import free_port

pytestmark = pytest.mark.django_db
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "webhook_receiver.py"


def test_the_receiver_script_prints_verified_events_and_refuses_a_wrong_secret(django_capture_on_commit_callbacks):
    port = free_port()
    endpoint = webhook_endpoint_create(url=f"http://127.0.0.1:{port}/webhooks", tenant_id=None, event_types=["*"])
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", str(port), "--secret", endpoint.secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "Listening" in proc.stdout.readline()
        with django_capture_on_commit_callbacks(execute=True):
            record("acme")
        assert WebhookDelivery.objects.get(endpoint=endpoint).status == "succeeded"
        line = proc.stdout.readline()
        assert line.startswith("verified") and "alert.triggered" in line and "tenant=acme" in line

        other = webhook_endpoint_create(url=endpoint.url, tenant_id="acme", event_types=["*"])  # another secret
        with django_capture_on_commit_callbacks(execute=True):
            record("acme")
        refused = WebhookDelivery.objects.get(endpoint=other)
        assert refused.status == "pending" and refused.attempts == 1, "a 400 from the receiver is retried later"
        assert any("REFUSED" in proc.stdout.readline() for _ in range(2))
    finally:
        proc.terminate()
        proc.wait(timeout=5)
