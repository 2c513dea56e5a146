"""Monthly partitions of the usage events table: the conversion, the partitions ahead, the default.

`billing_usageevent` is `PARTITION BY RANGE ("timestamp")`, one partition per UTC month named
`billing_usageevent_pYYYY_MM`, plus `billing_usageevent_default` which stores an event whose month has
no partition yet (never a refusal, never a loss). Its primary key is `(id, "timestamp")` (a unique
index on a partitioned table must hold the partition key); Django keeps `id` as the model's pk.
Exactly-once is `billing_usageeventkey`'s primary key `(tenant_id, event_id)`, unpartitioned.

`usage_events_partition` turns the plain table Django (or an old installation) has into that shape,
keeping every row and filling the key table; the migration and, for test databases built from models,
a post_migrate handler call it. `usage_partitions_ensure` creates the current and next months (beat
task, every `migrate`), moving any rows the default partition holds for such a month into it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connections, transaction
from django.utils import timezone

from billing.models import UsageEvent, UsageEventKey

AHEAD_MONTHS = 2  # partitions exist for the current month and this many after it
_LOCK = 727_017  # advisory lock key: one partition maintainer at a time


def month_start(value: datetime, months: int = 0) -> datetime:
    """Return the first instant (UTC) of `value`'s month shifted by `months`."""
    value = value.astimezone(UTC)
    index = value.year * 12 + value.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime, table: str | None = None) -> str:
    return f"{table or UsageEvent._meta.db_table}_p{month.year:04d}_{month.month:02d}"


def default_partition(table: str | None = None) -> str:
    return f"{table or UsageEvent._meta.db_table}_default"


def is_partitioned(cursor, table: str) -> bool:
    """Return whether `table` exists and is a partitioned table."""
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def _free_names(cursor, table: str) -> None:
    """Drop the plain table's indexes and key constraints and its identity, so their names are free."""
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) AND contype IN ('p', 'u')", [table]
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = to_regclass(%s)",
        [table],
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'DROP INDEX "{name}"')
    cursor.execute("SELECT attidentity FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'id'", [table])
    if (cursor.fetchone() or [""])[0]:
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP IDENTITY")
    else:
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"DROP SEQUENCE IF EXISTS {table}_id_seq")


def usage_events_partition(schema_editor, model=UsageEvent, key_model=UsageEventKey) -> None:
    """Make `model`'s plain table the monthly-partitioned one, copying every row and filling the keys.

    One transaction (the caller's): lock the old table, free its names, rename it, create the
    partitioned table (same columns, primary key (id, timestamp), a sequence past the largest id), its
    default partition and one partition per month the rows fall in (plus the months ahead), copy the
    rows, fill the key table, build the indexes, check the counts, drop the old table.
    No-op when the table is already partitioned.
    """
    table, keys = model._meta.db_table, key_model._meta.db_table
    old = f"{table}_unpartitioned"
    columns = ", ".join(f'"{f.column}"' for f in model._meta.concrete_fields)
    with schema_editor.connection.cursor() as cur:
        if is_partitioned(cur, table):
            return
        cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        _free_names(cur, table)
        cur.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cur.execute(
            f'CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS, PRIMARY KEY (id, "timestamp")) '
            'PARTITION BY RANGE ("timestamp")'
        )
        cur.execute(f"CREATE SEQUENCE {table}_id_seq OWNED BY {table}.id")
        cur.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
        cur.execute(f"SELECT setval('{table}_id_seq', COALESCE(max(id), 0) + 1, false) FROM {old}")
        cur.execute(f"CREATE TABLE {default_partition(table)} PARTITION OF {table} DEFAULT")
        cur.execute(f"SELECT DISTINCT date_trunc('month', \"timestamp\", 'UTC') FROM {old}")
        now = timezone.now()
        months = {m for (m,) in cur.fetchall()} | {month_start(now, n) for n in range(AHEAD_MONTHS + 1)}
        for month in sorted(months):
            cur.execute(
                f"CREATE TABLE {partition_name(month, table)} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)",
                [month, month_start(month, 1)],
            )
        cur.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {old}")
        copied = cur.rowcount
        cur.execute(
            f'INSERT INTO {keys} (tenant_id, event_id, "timestamp") SELECT tenant_id, event_id, "timestamp" FROM {old}'
        )
        keyed = cur.rowcount
        cur.execute(f"SELECT count(*) FROM {old}")
        (total,) = cur.fetchone()
        if not copied == keyed == total:
            raise RuntimeError(f"{table}: {total} rows, {copied} copied, {keyed} keys; nothing changed")
        cur.execute(f"DROP TABLE {old}")
    for index in model._meta.indexes:
        schema_editor.execute(index.create_sql(model, schema_editor))


def _attach_month(cur, table: str, month: datetime, columns: str) -> int:
    """Create and attach `month`'s partition, moving its rows out of the default partition; return how many."""
    name, default, end = partition_name(month, table), default_partition(table), month_start(month, 1)
    cur.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
    # No event may reach the default partition between the move and the attach (which checks it).
    cur.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
    cur.execute(
        f'WITH moved AS (DELETE FROM {default} WHERE "timestamp" >= %s AND "timestamp" < %s RETURNING {columns}) '
        f"INSERT INTO {name} ({columns}) SELECT {columns} FROM moved",
        [month, end],
    )
    moved = cur.rowcount
    cur.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [month, end])
    return moved


def usage_partitions_ensure(now: datetime | None = None, ahead: int = AHEAD_MONTHS, using: str = "default") -> dict:
    """Create the partitions of the current month and `ahead` months after it that do not exist.

    Return {partition name: rows moved out of the default partition} for those created. Each month is
    its own transaction, under an advisory lock (two runs at once create each month once). A no-op
    until the table is partitioned.
    """
    table = UsageEvent._meta.db_table
    columns = ", ".join(f'"{f.column}"' for f in UsageEvent._meta.concrete_fields)
    now = now or timezone.now()
    created: dict[str, int] = {}
    connection = connections[using]
    for n in range(ahead + 1):
        month = month_start(now, n)
        with transaction.atomic(using=using), connection.cursor() as cur:
            if not is_partitioned(cur, table):
                return created
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", [partition_name(month, table)])
            if cur.fetchone()[0]:
                continue
            created[partition_name(month, table)] = _attach_month(cur, table, month, columns)
    return created
