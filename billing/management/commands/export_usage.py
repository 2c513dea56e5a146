"""`python manage.py export_usage --tenant T --from ISO --to ISO --format parquet|csv [--output PATH]`.

A tenant's raw usage events with from <= timestamp < to, one row per event, columns as the API takes an
event (section 4): event_id, tenant_id, metric, quantity, timestamp, resource_id, cost_center, properties.
CSV: quantity as a plain decimal string, timestamp ISO 8601 UTC, properties as JSON text (to stdout
without --output). Parquet: quantity decimal128(30, 12), timestamp in microseconds UTC, properties as
JSON text (--output required). Rows are streamed in chunks; progress goes to stderr on long exports.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import sys
import time
from collections.abc import Iterator

from django.core.management.base import BaseCommand, CommandError

from billing.models import Tenant
from billing.selectors.usage import usage_events_export, usage_events_export_count
from billing.services.usage_files import CHUNK, event_json, write_events_parquet
from billing_project.fields import format_instant, parse_instant, plain_decimal

COLUMNS = ("event_id", "tenant_id", "metric", "quantity", "timestamp", "resource_id", "cost_center", "properties")


class Command(BaseCommand):
    help = "Export a tenant's raw usage events in [from, to) to Parquet or CSV."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant id.")
        parser.add_argument("--from", dest="start", required=True, help="ISO 8601 timestamp or date (inclusive).")
        parser.add_argument("--to", dest="end", required=True, help="ISO 8601 timestamp or date (exclusive).")
        parser.add_argument("--format", dest="fmt", required=True, choices=["parquet", "csv"])
        parser.add_argument("--output", help="File to write (CSV defaults to stdout; Parquet needs it).")

    def handle(self, *args, **options):
        start, end = self._instant(options, "start", "--from"), self._instant(options, "end", "--to")
        if start >= end:
            raise CommandError("--from must be before --to.")
        tenant_id = options["tenant"]
        if not Tenant.objects.filter(pk=tenant_id).exists():
            raise CommandError(f"--tenant: no tenant '{tenant_id}'.")
        if options["fmt"] == "parquet" and not options["output"]:
            raise CommandError("--output is required for --format parquet.")
        total = usage_events_export_count(tenant_id, start, end)
        rows = self._progress(usage_events_export(tenant_id, start, end, chunk_size=CHUNK), total)
        if options["fmt"] == "csv":
            written = self._csv(rows, options["output"])
        else:
            written = self._parquet(rows, options["output"])
        self.stderr.write(f"{written} events of {tenant_id} [{format_instant(start)}, {format_instant(end)}) exported.")

    @staticmethod
    def _instant(options, key: str, flag: str):
        try:
            return parse_instant(options[key])
        except Exception:  # noqa: BLE001 - parse_instant raises a DRF ValidationError
            raise CommandError(f"{flag}: '{options[key]}' is not an ISO 8601 timestamp or date.") from None

    def _progress(self, rows: Iterator[tuple], total: int) -> Iterator[tuple]:
        """Pass rows through with a progress bar on stderr: tqdm's when installed, else "done/total (pct)"
        at most once a second."""
        if importlib.util.find_spec("tqdm") is not None:
            bar = importlib.import_module("tqdm").tqdm
            yield from bar(rows, total=total, unit="event", unit_scale=True, file=sys.stderr, mininterval=1)
            return
        started = last = time.monotonic()
        for done, row in enumerate(rows, 1):
            yield row
            now = time.monotonic()
            if now - last >= 1:
                last = now
                pct = 100 * done / total if total else 100
                self.stderr.write(f"  {done}/{total} events ({pct:.0f}%, {now - started:.0f}s)")

    def _csv(self, rows: Iterator[tuple], output: str | None) -> int:
        count = 0
        handle = open(output, "w", newline="", encoding="utf-8") if output else None  # noqa: SIM115
        try:
            writer = csv.writer(handle or self.stdout)
            writer.writerow(COLUMNS)
            for event_id, tenant, metric, qty, ts, resource, center, props in rows:
                writer.writerow(
                    [
                        event_id,
                        tenant,
                        metric,
                        plain_decimal(qty),
                        format_instant(ts),
                        resource,
                        center,
                        event_json(props),
                    ]
                )
                count += 1
        finally:
            if handle:
                handle.close()
        return count

    @staticmethod
    def _parquet(rows: Iterator[tuple], output: str) -> int:
        return write_events_parquet(rows, output)
