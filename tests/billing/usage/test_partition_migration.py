"""The migration to monthly partitions converts an existing installation without losing or doubling an event.

Runs the real migrations (tests otherwise build tables from models) on a database of its own: migrate
to the migration before the conversion, load events with the old schema (several tenants, metrics,
months, one far in the past, one in the next month), migrate forward, and compare counts and sums per
tenant/metric/hour, the ids, the key table and what a re-sent event does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor

from billing.services.usage_partitions import default_partition

APP = "billing"
ALIAS = "partition_migration"
PER_HOUR = """
    SELECT tenant_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), count(*), sum(quantity), max(quantity),
           count(DISTINCT event_id), sum(id)
    FROM billing_usageevent GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


def _targets(executor):
    """Return (the migration before the conversion, the conversion) as migrate() targets."""
    graph = executor.loader.graph
    name = next(n for a, n in graph.nodes if a == APP and n.endswith("_usage_partitions"))
    before = next(d for d in graph.node_map[(APP, name)].parents if d.key[0] == APP).key
    return before, (APP, name)


@pytest.fixture
def old_database(settings, django_db_blocker):
    """Yield a Django connection to a fresh database of this test; drop it afterwards."""
    base = connections["default"].settings_dict
    name = f"{base['NAME']}_partmig"[:63]
    dsn = {"host": base["HOST"], "port": base["PORT"] or None, "user": base["USER"], "password": base["PASSWORD"]}

    def admin(sql: str) -> None:
        with psycopg.connect(dbname="postgres", autocommit=True, **dsn) as conn:
            conn.execute(sql)

    settings.MIGRATION_MODULES = {}  # the real migrations, not --nomigrations
    with django_db_blocker.unblock():
        admin(f'DROP DATABASE IF EXISTS "{name}"')
        admin(f'CREATE DATABASE "{name}"')
        connections.settings[ALIAS] = {**base, "NAME": name}
        try:
            yield connections[ALIAS]
        finally:
            connections[ALIAS].close()
            del connections[ALIAS]
            del connections.settings[ALIAS]
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _load_old_events(cur) -> None:
    rng = random.Random(17)
    now = datetime.now(UTC)
    instants = [now - timedelta(days=d, minutes=rng.randrange(1440)) for d in range(0, 120, 3)]
    instants += [datetime(2019, 7, 4, 12, 30, tzinfo=UTC), now.replace(day=1) + timedelta(days=40)]
    rows = []
    for i in range(1500):
        tenant, metric = rng.choice(["acme", "globex", "initech"]), rng.choice(["api_calls", "storage_gb", "seats"])
        props = '{"user": "u' + str(rng.randrange(20)) + '"}'
        rows.append((tenant, f"e{i}", metric, rng.randrange(1, 10_000) / 100, rng.choice(instants), props))
    cur.executemany(
        """INSERT INTO billing_usageevent (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id,
               cost_center, properties, received_at, unique_key)
           VALUES (%s, %s, %s, %s, %s, '', '', %s::jsonb, now(), NULL)""",
        rows,
    )


def test_migration_keeps_every_event_once(old_database):
    executor = MigrationExecutor(old_database)
    before, conversion = _targets(executor)
    executor.migrate([before])
    with old_database.cursor() as cur:
        _load_old_events(cur)
        cur.execute(PER_HOUR)
        expected = cur.fetchall()
        cur.execute("SELECT max(id) FROM billing_usageevent")
        (max_id,) = cur.fetchone()

    executor = MigrationExecutor(old_database)
    executor.migrate([conversion])

    with old_database.cursor() as cur:
        cur.execute("SELECT relkind FROM pg_class WHERE oid = 'billing_usageevent'::regclass")
        assert cur.fetchone()[0] == "p"
        cur.execute(PER_HOUR)
        assert cur.fetchall() == expected
        cur.execute(
            "SELECT count(*) FROM billing_usageeventkey k "
            'JOIN billing_usageevent e USING (tenant_id, event_id, "timestamp")'
        )
        assert cur.fetchone()[0] == 1500
        cur.execute("SELECT count(*) FROM billing_usageeventkey")
        assert cur.fetchone()[0] == 1500
        cur.execute(f"SELECT count(*) FROM {default_partition()}")
        assert cur.fetchone()[0] == 0  # every month the rows fall in got its partition
        cur.execute(
            """INSERT INTO billing_usageevent (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id,
                   cost_center, properties, received_at)
               VALUES ('acme', 'new', 'api_calls', 1, now(), '', '', '{}', now()) RETURNING id"""
        )
        assert cur.fetchone()[0] > max_id
        cur.execute(
            "INSERT INTO billing_usageeventkey SELECT tenant_id, event_id, now() FROM billing_usageevent "
            "WHERE event_id = 'e1' ON CONFLICT DO NOTHING RETURNING event_id"
        )
        assert cur.fetchone() is None
