"""`python manage.py rebuild_level_rollups [--tenant T]`: refold the level rollup from raw events.

For events loaded around the ingest (the benches' generated tenants); the ingest keeps it in step itself.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from billing.services.usage_levels import usage_levels_rebuild


class Command(BaseCommand):
    help = "Rebuild the hourly rollup of latest/weighted_sum metrics from raw events."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant id (default: every tenant).")

    def handle(self, *args, tenant=None, **options):
        rows = usage_levels_rebuild(tenant_id=tenant)
        self.stdout.write(f"{rows} level rollup rows")
