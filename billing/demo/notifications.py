"""The demo's events, webhook endpoint and e-mail (section 13).

A few tenants get a billing e-mail (their mail lands in .data/mail/ with the default EMAIL_URL);
one endpoint for every tenant's events points at the local receiver `scripts/webhook_receiver.py`
on 127.0.0.1:8089, and its secret is written to .data/demo-webhook-secret for that script. The
replayed history is not news: its events older than a week are marked processed, so only the last
week's go out (to the receiver and as e-mail). Idempotent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings

from billing.models import Tenant
from notifications.selectors.endpoints import endpoint_list
from notifications.services.endpoints import webhook_endpoint_create
from notifications.services.events import events_mark_processed

DEMO_WEBHOOK_URL = "http://127.0.0.1:8089/webhooks"
DEMO_WEBHOOK_DESCRIPTION = "Demo receiver: python scripts/webhook_receiver.py"
BILLING_EMAILS = {"acme": "ap@acme.example", "globex": "accounts@globex.example", "initech": "billing@initech.example"}
NEWS_WINDOW = timedelta(days=7)


def secret_file() -> Path:
    return Path(settings.BASE_DIR) / ".data" / "demo-webhook-secret"


def seed_notifications(*, now: datetime) -> dict:
    """Return what was set up: billing e-mails, the demo endpoint (and its secret file), history marked."""
    emails = 0
    for tenant_id, email in BILLING_EMAILS.items():
        emails += Tenant.objects.filter(pk=tenant_id, billing_email="").update(billing_email=email)
    endpoint = endpoint_list(tenant_id=None).filter(url=DEMO_WEBHOOK_URL, tenant_id__isnull=True).first()
    if endpoint is None:
        endpoint = webhook_endpoint_create(
            url=DEMO_WEBHOOK_URL,
            tenant_id=None,
            event_types=["*"],
            description=DEMO_WEBHOOK_DESCRIPTION,
            local_demo=True,
        )
    path = secret_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(endpoint.secret + "\n")
    history = events_mark_processed(before=now - NEWS_WINDOW)
    return {"billing_emails": emails, "endpoint": endpoint, "history_events": history}
