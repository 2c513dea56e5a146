"""Per-batch CPU of batch ingest against the raw COPY ceiling, in process (issue 17, item 3).

Serves 1,000-event batches of `bench/ingest.py`'s events through Django's test Client (no gunicorn)
after two warm-up batches, and reports per batch: the web process's CPU (time.process_time), its
PostgreSQL backend's CPU (/proc/<pid>/task/*/sched, as bench/cputime.py reads it) and, with
`--statements`, each statement's share of the backend. Then the ceiling: a raw COPY of the same
number of rows into a table shaped like the events table, on one connection (client CPU, backend
CPU). CPU times are far steadier than throughput on a shared machine; compare two versions by
running this alternately in their checkouts.

    .venv/bin/python bench/ingest_cpu.py [--batches N] [--statements]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_db, connect, db_url  # noqa: E402
from bench.cputime import process_seconds  # noqa: E402
from bench.ingest import COPY_COLUMNS, _copy_rows_of, create_raw_table, make_events  # noqa: E402

PER = 1000
TENANTS = [f"bench-ingest-{uuid.uuid4().hex[:8]}-{c}" for c in range(4)]  # this run's tenants only
_COPY_SQL = f"COPY bench_cpu_raw ({COPY_COLUMNS}) FROM STDIN"


def _spy_statements(backend_pid: int) -> dict:
    """Return {statement: [backend seconds, calls]}, filled from now on by psycopg's execute and copy."""
    import psycopg

    spent: dict = defaultdict(lambda: [0.0, 0])
    execute, copy = psycopg.Cursor.execute, psycopg.Cursor.copy

    def timed_execute(self, query, *args, **kwargs):
        before = process_seconds(backend_pid)
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            entry = spent[" ".join(str(query).split())[:90]]
            entry[0] += process_seconds(backend_pid) - before
            entry[1] += 1

    @contextlib.contextmanager
    def timed_copy(self, query, *args, **kwargs):
        before = process_seconds(backend_pid)
        with copy(self, query, *args, **kwargs) as cp:
            yield cp
        spent["COPY"][0] += process_seconds(backend_pid) - before
        spent["COPY"][1] += 1

    psycopg.Cursor.execute = timed_execute  # type: ignore[method-assign]
    psycopg.Cursor.copy = timed_copy  # type: ignore[method-assign]
    return spent


def api_side(batches: int, statements: bool) -> dict:
    """Return the per-batch CPU (ms) of `batches` batch POSTs served in process, web and backend."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from billing_project.auth import issue_token

    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {issue_token(sub='bench', role='service')}")
    events = make_events("c" + uuid.uuid4().hex[:8], (batches + 2) * PER, datetime.now(UTC))
    bodies = [orjson.dumps({"events": events[k : k + PER]}) for k in range(0, len(events), PER)]

    def post(i: int) -> None:
        path = f"/api/v1/billing/tenants/{TENANTS[i % len(TENANTS)]}/usage/batch"
        response = client.post(path, bodies[i], content_type="application/json")
        assert response.status_code == 200, response.content[:300]

    post(0)
    post(1)
    pid = connection.connection.info.backend_pid
    spent = _spy_statements(pid) if statements else {}
    web, db = time.process_time(), process_seconds(pid)
    for i in range(2, batches + 2):
        post(i)
    out: dict = {
        "web_ms": round((time.process_time() - web) / batches * 1e3, 2),
        "db_ms": round((process_seconds(pid) - db) / batches * 1e3, 2),
    }
    if statements:
        ranked = sorted(spent.items(), key=lambda x: -x[1][0])
        out["statements"] = [f"{s / batches * 1e3:.2f} ms x{n / batches:g}: {q}" for q, (s, n) in ranked]
    return out


def copy_side(batches: int) -> dict:
    """Return the per-batch CPU (ms) of a raw COPY of as many rows, client and backend, on one warm connection."""
    rows = _copy_rows_of(
        "r" + uuid.uuid4().hex[:8], TENANTS, datetime.now(UTC), n_batches=batches + 1, per=PER, clients=4
    )
    with connect() as conn:
        create_raw_table(conn, "bench_cpu_raw")
    try:
        with connect(autocommit=False) as conn:
            pid = conn.info.backend_pid

            def copy(k: int) -> None:
                with conn.cursor() as cur, cur.copy(_COPY_SQL) as cp:
                    for row in rows[k * PER : (k + 1) * PER]:
                        cp.write_row(row)
                conn.commit()

            copy(0)
            client, db = time.process_time(), process_seconds(pid)
            for k in range(1, batches + 1):
                copy(k)
            return {
                "client_ms": round((time.process_time() - client) / batches * 1e3, 2),
                "db_ms": round((process_seconds(pid) - db) / batches * 1e3, 2),
            }
    finally:
        with connect() as conn:
            conn.execute("DROP TABLE IF EXISTS bench_cpu_raw")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--statements", action="store_true", help="split the backend's CPU by statement")
    args = parser.parse_args()
    bench_db()
    os.environ["DATABASE_URL"] = db_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_project.settings")
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    result = {"api": api_side(args.batches, args.statements), "copy": copy_side(args.batches)}
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result, indent=1))
