"""Raw usage events as Parquet files: the writer `export_usage` and the archiver share, and its reader.

One row per event, columns as the API shows an event: event_id, tenant_id, metric, quantity
(decimal128(30, 12)), timestamp (microseconds, UTC), resource_id, cost_center, properties (JSON text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

CHUNK = 5000


def event_json(value: Any) -> str:
    """Return `properties` as canonical JSON text (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("event_id", pa.string()),
            ("tenant_id", pa.string()),
            ("metric", pa.string()),
            ("quantity", pa.decimal128(30, 12)),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("resource_id", pa.string()),
            ("cost_center", pa.string()),
            ("properties", pa.string()),
        ]
    )


def _write_chunk(writer, schema, chunk: list[tuple]) -> int:
    import pyarrow as pa

    if chunk:
        columns = list(zip(*chunk, strict=True))
        writer.write_table(
            pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
            )
        )
    return len(chunk)


def write_events_parquet(rows: Iterable[tuple], path: str) -> int:
    """Write `rows` (event_id, tenant_id, metric, quantity, timestamp, resource_id, cost_center, properties
    as a dict) to the Parquet file `path`; return how many."""
    import pyarrow.parquet as pq

    schema = parquet_schema()
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        chunk: list[tuple] = []
        for row in rows:
            chunk.append((*row[:7], event_json(row[7])))
            if len(chunk) >= CHUNK:
                count += _write_chunk(writer, schema, chunk)
                chunk = []
        count += _write_chunk(writer, schema, chunk)
    return count


def read_events_parquet_totals(path: str) -> tuple[int, dict[tuple[str, str], tuple[int, Decimal]]]:
    """Return (rows, {(tenant, metric): (events, sum of quantity)}) of the Parquet file `path`, read back."""
    import pyarrow.parquet as pq

    rows, totals = 0, {}
    for batch in pq.ParquetFile(path).iter_batches(columns=["tenant_id", "metric", "quantity"], batch_size=65536):
        rows += batch.num_rows
        columns = (batch.column(i).to_pylist() for i in range(3))
        for key in zip(*columns, strict=True):
            n, total = totals.get(key[:2], (0, Decimal(0)))
            totals[key[:2]] = (n + 1, total + key[2])
    return rows, totals
