"""python manage.py seed_demo: the demo catalog, tenants and data, so a new user sees real numbers.

Idempotent: running it again changes nothing that is already there.
"""
from pathlib import Path

from django.core.management.base import BaseCommand

from billing.services.catalog import catalog_load, catalog_read_file
from billing.services.demo import demo_seed
from billing_project.auth import issue_token

CATALOG = Path(__file__).resolve().parents[2] / "fixtures" / "demo_catalog.json"


class Command(BaseCommand):
    help = "Load the demo catalog, tenants, subscriptions, usage and invoices (idempotent)."

    def handle(self, *args, **options):
        say = lambda m: self.stdout.write(f"  {m}")  # noqa: E731
        self.stdout.write("Loading the demo catalog…")
        catalog_load(data=catalog_read_file(CATALOG), progress=say)
        self.stdout.write("Seeding demo tenants and data…")
        info = demo_seed(progress=say)
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Admin:   http://127.0.0.1:8087/admin/  user '{info['admin_user']}' "
                          f"password '{info['admin_password']}'")
        token = issue_token(sub="demo-finance", role="finance", ttl_seconds=7 * 24 * 3600)
        self.stdout.write(f"  Finance token (7 days): {token}")
        self.stdout.write("  Try: curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8087/api/v1/billing/plans")
