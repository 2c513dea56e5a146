"""`python manage.py run_invoices [--at TIME] [--sync] [--wait]`: the invoice run, by hand.

Invoices every subscription period that ended by TIME (default now), finalizes the drafts whose
grace period has passed, and rolls the subscriptions on. Safe to re-run: nothing is invoiced twice.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.selectors.invoices import invoice_drafts_due, subscriptions_due_for_invoicing
from billing.services.invoices import invoice_grace, invoices_run
from billing_project.fields import format_instant, parse_instant


class Command(BaseCommand):
    help = "Generate and finalize the invoices of every ended billing period (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("--at", help="Run as of this ISO timestamp or date (default: now).")
        parser.add_argument("--sync", action="store_true", help="Process here instead of queuing Celery tasks.")
        parser.add_argument("--batch-size", type=int, default=20, help="Subscriptions per Celery task (default 20).")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="After queuing, wait until the workers have invoiced everything that was due.",
        )
        parser.add_argument("--timeout", type=float, default=600, help="Seconds --wait waits at most (default 600).")

    def handle(self, *args, **options):
        try:
            at = parse_instant(options["at"]) if options["at"] else timezone.now()
        except Exception:  # noqa: BLE001 - parse_instant raises a DRF ValidationError
            raise CommandError(f"--at: '{options['at']}' is not an ISO 8601 timestamp or date.") from None
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.stdout.write(
            f"Invoice run as of {format_instant(at)} ({'in this process' if options['sync'] else 'Celery'})"
        )
        started = time.monotonic()
        last = {"t": 0.0}

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if done == total or now - last["t"] >= 1:
                last["t"] = now
                self.stdout.write(f"  {done}/{total} processed ({now - started:.1f}s)")

        summary = invoices_run(at=at, sync=options["sync"], batch_size=options["batch_size"], progress=progress)
        self.stdout.write(
            f"Due: {summary.subscriptions} subscription(s), {summary.drafts} draft(s) past the grace period."
        )
        if not options["sync"]:
            self.stdout.write(f"Queued {summary.tasks} task(s).")
            if options["wait"]:
                self._wait(at, options["timeout"], started)
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {time.monotonic() - started:.1f}s: {summary.generated} invoice(s) generated, "
                f"{summary.finalized} finalized, {summary.failed} failed."
            )
        )
        for error in summary.errors[:20]:
            self.stderr.write(f"  {error}")
        if summary.failed:
            raise CommandError(f"{summary.failed} item(s) failed; re-run to retry them.")

    def _wait(self, at, timeout: float, started: float) -> None:
        """Poll until nothing due at `at` is left (the workers are done) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            left_subs = len(subscriptions_due_for_invoicing(at=at))
            left_drafts = len(invoice_drafts_due(at=at, grace=invoice_grace()))
            elapsed = time.monotonic() - started
            self.stdout.write(f"  waiting: {left_subs} subscription(s), {left_drafts} draft(s) left ({elapsed:.1f}s)")
            if left_subs == 0 and left_drafts == 0:
                self.stdout.write(self.style.SUCCESS(f"Done in {elapsed:.1f}s."))
                return
            if time.monotonic() > deadline:
                raise CommandError("Timed out waiting for the workers; re-run to pick up what is left.")
            time.sleep(1)
