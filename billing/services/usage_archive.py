"""Raw-event retention: a closed month older than the retention goes to Parquet, then leaves the database.

A month [start, end) (UTC) is archived when
- `end <= month_start(now) - BILLING_RAW_RETENTION_MONTHS months` (None, the default, keeps everything);
- it has its own partition;
- it is closed: every event in it lies in the period of a finalized invoice (open, paid,
  uncollectible) of its tenant — so no invoice of it will be computed again, and a new event of
  those periods is refused (`period_closed`). A late event of an archived month outside such
  periods (a tenant's days before its first subscription) is still stored: in the default partition.

Steps: export every event of the month to `BILLING_ARCHIVE_DIR/usage-YYYY-MM.parquet` (the writer of
`export_usage`), read the file back and check its row count and per (tenant, metric) event counts and
sums against the hourly rollups (and the row count against the table), then in one transaction
DETACH the partition, keep the few rows later reads still need, and DROP it.

The rollups stay, so sums, counts and maxima of the month are unchanged. The rows kept (moved to the
default partition, so every reader finds them through the events table as before):
- `latest` and `weighted_sum` metrics: all their readings (a level carries into later periods and its
  integral needs every change);
- `unique_count` metrics: the first event of each (tenant, metric, unique_key, hour), so a distinct
  count over whole hours (summaries by hour or day, periods) and each key's first occurrence are
  unchanged;
- every event in the hours holding a finalized invoice period's start or end, so the partial hours
  at those edges are still read exactly.
A filtered charge (`filters` on properties) of a plain metric over an archived month is not recomputed
from these rows (its invoices are final and stored); the key table keeps every event's key, so a
re-sent event stays a duplicate forever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billing.models import Metric, UsageEvent
from billing.selectors.usage import (
    usage_finalized_periods,
    usage_month_event_count,
    usage_month_events,
    usage_month_rollup_totals,
    usage_month_tenants,
    usage_month_uncovered_tenants,
)
from billing.services.usage_files import read_events_parquet_totals, write_events_parquet
from billing.services.usage_partitions import month_start, partition_name

LEVELS = ("latest", "weighted_sum")


class ArchiveMismatch(RuntimeError):
    """The Parquet file read back does not match the rollups: nothing was dropped."""


@dataclass
class MonthArchive:
    """What happened to one month: `status` is archived, would_archive (dry run) or open (not closed)."""

    month: str
    status: str
    events: int = 0
    kept: int = 0
    path: str = ""
    detail: str = ""


def usage_archivable_months(now: datetime | None = None, retention: int | None = None) -> list[datetime]:
    """Return the first instants of the months with a partition older than the retention (oldest first)."""
    if retention is None:
        return []
    cutoff = month_start(now or timezone.now(), -retention)
    table = UsageEvent._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [name for (name,) in cur.fetchall()]
    months = []
    for name in names:
        suffix = name.removeprefix(f"{table}_p")
        if suffix != name and len(suffix) == 7 and suffix[4] == "_":
            month = datetime(int(suffix[:4]), int(suffix[5:]), 1, tzinfo=UTC)
            if month_start(month, 1) <= cutoff:
                months.append(month)
    return sorted(months)


def _edge_hours(start: datetime, end: datetime, tenants: list[str]) -> tuple[list[str], list[datetime]]:
    """Return the (tenant, hour) pairs holding a finalized period's start or end inside [start, end)."""
    pairs = set()
    for tenant_id, periods in usage_finalized_periods(tenants, start, end).items():
        for bound in (b for period in periods for b in period):
            hour = bound.replace(minute=0, second=0, microsecond=0)
            if start <= bound < end and bound != hour:
                pairs.add((tenant_id, hour))
    return [t for t, _ in sorted(pairs)], [h for _, h in sorted(pairs)]


def _verify(path: str, start: datetime, end: datetime) -> int:
    """Return the file's row count after checking it against the rollups and the table."""
    rows, from_file = read_events_parquet_totals(path)
    from_rollups = {k: v for k, v in usage_month_rollup_totals(start, end).items() if v[0]}
    stored = usage_month_event_count(start, end)
    rollup_events = sum(n for n, _ in from_rollups.values())
    if not rows == stored == rollup_events or from_file != from_rollups:
        raise ArchiveMismatch(
            f"{path}: {rows} rows, {stored} stored, {rollup_events} in the rollups; per (tenant, metric) "
            f"file {sorted(from_file.items())[:5]} … rollups {sorted(from_rollups.items())[:5]} …"
        )
    return rows


def _detach_keep_drop(start: datetime, end: datetime, tenants: list[str], exported: int) -> int:
    """Detach the month's partition, move the rows reads still need to the default one, drop it.

    Rolled back (nothing dropped) if the partition holds another count of rows than the file: an
    event that arrived after the export (a tenant with no invoices yet) is never lost.
    """
    table, partition = UsageEvent._meta.db_table, partition_name(start)
    columns = ", ".join(f'"{f.column}"' for f in UsageEvent._meta.concrete_fields)
    edge_tenants, edge_hours = _edge_hours(start, end, tenants)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"ALTER TABLE {table} DETACH PARTITION {partition}")
        cur.execute(f"SELECT count(*) FROM {partition}")
        if cur.fetchone()[0] != exported:
            raise ArchiveMismatch(f"{partition}: events arrived after the export; archive it again")
        cur.execute(
            f"""
            INSERT INTO {table} ({columns}) SELECT {columns} FROM {partition} WHERE id IN (
                SELECT p.id FROM {partition} p JOIN {Metric._meta.db_table} m ON m.code = p.metric_id
                WHERE m.aggregation = ANY(%s)
                UNION
                (SELECT DISTINCT ON (tenant_id, metric_id, unique_key, date_trunc('hour', "timestamp", 'UTC')) id
                 FROM {partition} WHERE unique_key IS NOT NULL
                 ORDER BY tenant_id, metric_id, unique_key, date_trunc('hour', "timestamp", 'UTC'), "timestamp", id)
                UNION
                SELECT p.id FROM {partition} p JOIN unnest(%s::text[], %s::timestamptz[]) AS edge(t, h)
                  ON p.tenant_id = edge.t AND p."timestamp" >= edge.h AND p."timestamp" < edge.h + interval '1 hour'
            )
            """,
            [list(LEVELS), edge_tenants, edge_hours],
        )
        kept = cur.rowcount
        cur.execute(f"DROP TABLE {partition}")
    return kept


def usage_archive_month(month: datetime, *, archive_dir: str | None = None, dry_run: bool = False) -> MonthArchive:
    """Archive the month starting at `month` if it is closed (see the module doc); return what happened."""
    start, end = month_start(month), month_start(month, 1)
    label = f"{start.year:04d}-{start.month:02d}"
    open_tenants = usage_month_uncovered_tenants(start, end)
    if open_tenants:
        shown = ", ".join(open_tenants[:5]) + (" …" if len(open_tenants) > 5 else "")
        return MonthArchive(label, "open", detail=f"not covered by finalized invoices: {shown}")
    directory = Path(archive_dir or settings.BILLING_ARCHIVE_DIR)
    path = directory / f"usage-{label}.parquet"
    if dry_run:
        events = sum(n for n, _ in usage_month_rollup_totals(start, end).values())
        return MonthArchive(label, "would_archive", events=events, path=str(path))
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".usage-{label}.parquet.partial"
    write_events_parquet(usage_month_events(start, end), str(partial))
    events = _verify(str(partial), start, end)
    os.replace(partial, path)
    kept = _detach_keep_drop(start, end, usage_month_tenants(start, end), events)
    return MonthArchive(label, "archived", events=events, kept=kept, path=str(path))


def usage_archive_due(
    *, now: datetime | None = None, retention: int | None = None, dry_run: bool = False, archive_dir: str | None = None
) -> list[MonthArchive]:
    """Archive every closed month older than the retention (default BILLING_RAW_RETENTION_MONTHS)."""
    if retention is None:
        retention = settings.BILLING_RAW_RETENTION_MONTHS
    return [
        usage_archive_month(month, archive_dir=archive_dir, dry_run=dry_run)
        for month in usage_archivable_months(now, retention)
    ]
