"""`python manage.py archive_usage [--dry-run] [--retention-months N] [--month YYYY-MM] [--dir PATH]`.

Archives raw usage events of closed months older than the retention (BILLING_RAW_RETENTION_MONTHS
unless --retention-months) to one Parquet file per month, verifies each file against the rollups,
then detaches and drops the month's partition (billing/services/usage_archive.py). --month archives
that one month whatever the retention (it must still be closed). --dry-run says what would happen.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.services.usage_archive import ArchiveMismatch, usage_archive_due, usage_archive_month


class Command(BaseCommand):
    help = "Archive closed months of raw usage events older than the retention to Parquet, then drop them."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be archived; change nothing.")
        parser.add_argument("--retention-months", type=int, help="Override BILLING_RAW_RETENTION_MONTHS.")
        parser.add_argument("--month", help="Archive this month (YYYY-MM) whatever the retention.")
        parser.add_argument("--dir", dest="archive_dir", help="Override BILLING_ARCHIVE_DIR.")

    def handle(self, *args, **options):
        dry_run, archive_dir = options["dry_run"], options["archive_dir"]
        try:
            if options["month"]:
                results = [usage_archive_month(self._month(options["month"]), archive_dir=archive_dir, dry_run=dry_run)]
            else:
                retention = options["retention_months"]
                if retention is None and settings.BILLING_RAW_RETENTION_MONTHS is None:
                    self.stdout.write("BILLING_RAW_RETENTION_MONTHS is not set: every raw event is kept.")
                    return
                results = usage_archive_due(retention=retention, dry_run=dry_run, archive_dir=archive_dir)
        except ArchiveMismatch as exc:
            raise CommandError(f"Nothing dropped: {exc}") from None
        if not results:
            self.stdout.write("No month with a partition is older than the retention.")
        for r in results:
            facts = f"{r.events} events" + (f", {r.kept} kept in the table" if r.status == "archived" else "")
            self.stdout.write(f"{r.month}: {r.status}" + (f" ({facts}) -> {r.path}" if r.path else f" ({r.detail})"))

    @staticmethod
    def _month(value: str) -> datetime:
        try:
            return datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise CommandError(f"--month: '{value}' is not YYYY-MM.") from None
