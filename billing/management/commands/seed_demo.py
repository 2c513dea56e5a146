"""python manage.py seed_demo: the demo catalog, tenants and four months of history, so a new user sees real numbers.

Idempotent: running it again changes nothing that is already there.
"""

import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand
from django.test.utils import override_settings

from billing.demo import demo_seed
from billing.services.catalog import catalog_load, catalog_read_file
from billing_project.auth import issue_token
from notifications.tasks import notifications_sweep

CATALOG = Path(__file__).resolve().parents[2] / "fixtures" / "demo_catalog.json"
TOKEN_TTL = 7 * 24 * 3600


class Command(BaseCommand):
    help = "Load the demo catalog, tenants, subscriptions, usage and invoices (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url",
            default=f"http://127.0.0.1:{os.environ.get('PORT', '8087')}",
            help="Where the server listens, for the printed examples.",
        )

    def handle(self, *args, **options):
        base = options["base_url"].rstrip("/")
        say = lambda m: self.stdout.write(f"  {m}")  # noqa: E731
        started = time.monotonic()
        self.stdout.write("Loading the demo catalog…")
        catalog_load(data=catalog_read_file(CATALOG), progress=say)
        self.stdout.write("Seeding demo tenants and history…")
        info = demo_seed(progress=say)
        # The last week's events and mail go out now (the demo receiver may not be running yet: its
        # deliveries are retried), inline so nothing is cut off when this command exits.
        with override_settings(NOTIFICATIONS_EAGER_IN_THREAD=False, WEBHOOK_TIMEOUT_SECONDS=2):
            notifications_sweep.apply()
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.1f}s."))
        self.stdout.write(f"  Admin:  {base}/admin/  user '{info['admin_user']}' password '{info['admin_password']}'")
        self.stdout.write(
            f"  Tenant login (POST {base}/api/v1/auth/token): user '{info['tenant_user']}' "
            f"password '{info['tenant_password']}' (tenant {info['tenant_id']})"
        )
        finance = issue_token(sub="demo-finance", role="finance", ttl_seconds=TOKEN_TTL)
        tenant = issue_token(sub="demo-acme", role="tenant", tenant_id=info["tenant_id"], ttl_seconds=TOKEN_TTL)
        self.stdout.write(f"  Finance token (7 days): {finance}")
        self.stdout.write(f"  Tenant token for {info['tenant_id']} (7 days): {tenant}")
        self.stdout.write(
            "  Webhooks: run `.venv/bin/python scripts/webhook_receiver.py` to print verified events; "
            "e-mail lands in .data/mail/ (see README, 'Events, webhooks and e-mail')."
        )
        self.stdout.write("  Try:")
        self.stdout.write(f"    TOKEN={tenant}")
        self.stdout.write(
            f'    curl -H "Authorization: Bearer $TOKEN" '
            f"{base}/api/v1/billing/tenants/{info['tenant_id']}/billing/preview"
        )
        self.stdout.write(
            f'    curl -H "Authorization: Bearer $TOKEN" {base}/api/v1/billing/tenants/{info["tenant_id"]}/invoices'
        )
