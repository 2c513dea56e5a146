"""`manage.py export_usage`: a tenant's raw events in [from, to) to CSV and Parquet, read back."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from .conftest import at, iso

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(catalog, tenant, other_tenant, post_batch, now):
    """Store acme's events (three in the window, one on its end) and globex's noise, all in the past."""
    m = (now - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    acme = [
        {"event_id": "a1", "metric": "api_calls", "quantity": 10, "timestamp": at(m, hours=1)},
        {
            "event_id": "a2",
            "metric": "api_calls",
            "quantity": "2.5",
            "timestamp": at(m, hours=2),
            "resource_id": "vm-1",
        },
        {
            "event_id": "s1",
            "metric": "storage_gb",
            "quantity": "0.000000000001",
            "timestamp": at(m, hours=3),
            "properties": {"region": "eu", "n": 1},
        },
        {"event_id": "late", "metric": "api_calls", "quantity": 1000, "timestamp": at(m, hours=5)},
    ]
    assert post_batch("acme", acme).status_code == 200
    noise = [{"event_id": "g1", "metric": "api_calls", "quantity": 7, "timestamp": at(m, hours=2)}]
    assert post_batch("globex", noise).status_code == 200
    return m


def export(fmt, start, end, tenant="acme", output=None):
    out, err = StringIO(), StringIO()
    args = ["--tenant", tenant, "--from", iso(start), "--to", iso(end), "--format", fmt]
    call_command("export_usage", *args, *(["--output", str(output)] if output else []), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def sums(rows):
    out: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        out[row["metric"]] += Decimal(str(row["quantity"]))
    return dict(out)


EXPECTED = {"api_calls": Decimal("12.5"), "storage_gb": Decimal("0.000000000001")}


def test_csv_round_trip(events, tmp_path):
    path = tmp_path / "acme.csv"
    _, err = export("csv", events, events + timedelta(hours=5), output=path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["event_id"] for r in rows] == ["a1", "a2", "s1"]  # [from, to): "late" sits on `to`
    assert {r["tenant_id"] for r in rows} == {"acme"}
    assert sums(rows) == EXPECTED
    assert rows[2]["quantity"] == "0.000000000001"
    assert rows[0]["timestamp"] == iso(events + timedelta(hours=1)).replace(".000000", "")
    assert json.loads(rows[2]["properties"]) == {"region": "eu", "n": 1}
    assert rows[1]["resource_id"] == "vm-1"
    assert "3 events of acme" in err


def test_csv_to_stdout(events):
    out, _ = export("csv", events, events + timedelta(days=1))
    rows = list(csv.DictReader(StringIO(out)))
    assert len(rows) == 4
    assert "g1" not in {r["event_id"] for r in rows}


def test_parquet_round_trip(events, tmp_path):
    path = tmp_path / "acme.parquet"
    export("parquet", events, events + timedelta(hours=5), output=path)
    table = pq.read_table(path)
    assert table.column_names == [
        "event_id",
        "tenant_id",
        "metric",
        "quantity",
        "timestamp",
        "resource_id",
        "cost_center",
        "properties",
    ]
    rows = table.to_pylist()
    assert table.num_rows == 3
    assert {r["tenant_id"] for r in rows} == {"acme"}
    assert sums(rows) == EXPECTED
    assert rows[0]["timestamp"] == events + timedelta(hours=1)
    assert json.loads(rows[2]["properties"]) == {"region": "eu", "n": 1}


def test_parquet_empty_window_is_a_valid_file(events, tmp_path):
    path = tmp_path / "none.parquet"
    export("parquet", events - timedelta(days=40), events - timedelta(days=35), output=path)
    assert pq.read_table(path).num_rows == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tenant": "nobody"}, "no tenant"),
        ({"start_shift": 2}, "--from must be before --to"),
        ({"fmt": "parquet"}, "--output is required"),
    ],
)
def test_bad_arguments(events, kwargs, message):
    start = events + timedelta(hours=kwargs.get("start_shift", 0))
    with pytest.raises(CommandError, match=message):
        export(kwargs.get("fmt", "csv"), start, events + timedelta(hours=1), tenant=kwargs.get("tenant", "acme"))


def test_bad_instant_and_format(events):
    with pytest.raises(CommandError, match="--from: 'yesterday'"):
        call_command("export_usage", "--tenant", "acme", "--from", "yesterday", "--to", "2026-01-01", "--format", "csv")
    with pytest.raises(CommandError):
        call_command(
            "export_usage", "--tenant", "acme", "--from", "2026-01-01", "--to", "2026-02-01", "--format", "xls"
        )
