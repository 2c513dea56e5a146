"""Benchmark: preview and usage summary with section 14's pricing on a tenant with 10 million events.

The tenant holds the big bench tenant's month of events (`ensure_big_tenant`) plus level readings
of a `weighted_sum` metric (20 buckets every 6 hours) and compute hours split CPU/GPU by a charge
filter (50 VMs every hour), on its own plan "pro-s14" = Pro + those two charges. Targets (issue 16):
preview p99 ≤ 30 ms, summary p99 ≤ 20 ms. Its own tenant and plan, so the other benches' figures
are untouched.

    .venv/bin/python bench/section14.py [--quick] [--events N] [--requests N] [--seconds S]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    ROOT,
    Client,
    Server,
    _manage,
    bench_db,
    connect,
    ensure_big_tenant,
    latency,
    latency_cli,
    month_bounds,
    say,
    token,
)
from bench.preview import ensure_subscription  # noqa: E402

TENANT = "bench-s14"
PLAN = "pro-s14"
PREVIEW_P99_MS, SUMMARY_P99_MS = 30.0, 20.0
EXTRA_METRICS = [
    {"code": "storage_gb_month", "name": "Object storage", "unit": "GB-month", "aggregation": "weighted_sum"},
    {"code": "compute_hours", "name": "Compute", "unit": "hour", "aggregation": "sum"},
]
EXTRA_CHARGES = [
    {"metric": "storage_gb_month", "model": "per_unit", "unit_price": "0.023"},
    {
        "metric": "compute_hours",
        "model": "per_unit",
        "unit_price": "0.08",
        "filters": [{"name": "GPU", "properties": {"type": ["gpu"]}, "model": "per_unit", "unit_price": "2.40"}],
    },
]


def load_plan() -> None:
    """Load plan pro-s14: the demo catalog's Pro plus a weighted_sum charge and a filtered charge."""
    catalog = json.loads((ROOT / "billing" / "fixtures" / "demo_catalog.json").read_text())
    pro = next(p for p in catalog["plans"] if p["id"] == "pro")
    plan = {**pro, "id": PLAN, "name": "Pro (section 14 bench)", "trial_days": 0}
    plan["charges"] = [*pro["charges"], *EXTRA_CHARGES]
    known = {m["code"] for m in catalog["metrics"]}
    data = {"metrics": [*catalog["metrics"], *(m for m in EXTRA_METRICS if m["code"] not in known)], "plans": [plan]}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
    _manage(["load_catalog", f.name])


def load_section14_usage(tenant_id: str) -> int:
    """Return the section 14 events of the month after (re)loading them with their rollups (the level
    metric's too, refolded by `manage.py rebuild_level_rollups`)."""
    start, _ = month_bounds()
    with connect() as conn:
        conn.execute(
            "DELETE FROM billing_usageeventkey WHERE tenant_id = %s "
            "AND (event_id LIKE 'lvl-%%' OR event_id LIKE 'cpu-%%')",
            [tenant_id],
        )
        for table in (
            "billing_usageevent",
            "billing_usagerollup",
            "billing_usagehourly",
            "billing_usagedimrollup",
            "billing_usagedimhourly",
            "billing_usagelevel",
        ):
            conn.execute(
                f"DELETE FROM {table} WHERE tenant_id = %s AND metric_id IN ('storage_gb_month', 'compute_hours')",
                [tenant_id],
            )
        conn.execute(
            """
            INSERT INTO billing_usageevent (tenant_id, event_id, metric_id, quantity, "timestamp", resource_id,
                                            cost_center, properties, received_at)
            SELECT %(t)s, 'lvl-' || b || '-' || h, 'storage_gb_month', 100 + b * 10 + h %% 7,
                   %(start)s + h * interval '6 hours', 'bkt-' || b, '', '{}'::jsonb, now()
            FROM generate_series(0, 19) b, generate_series(0, 200) h
            WHERE %(start)s + h * interval '6 hours' < now() - interval '1 minute'
            UNION ALL
            SELECT %(t)s, 'cpu-' || v || '-' || h, 'compute_hours', 1, %(start)s + h * interval '1 hour',
                   'vm-' || v, '', jsonb_build_object('type', CASE WHEN v %% 5 = 0 THEN 'gpu' ELSE 'cpu' END), now()
            FROM generate_series(0, 49) v, generate_series(0, 800) h
            WHERE %(start)s + h * interval '1 hour' < now() - interval '1 minute'
            """,
            {"t": tenant_id, "start": start},
        )
        conn.execute(
            'INSERT INTO billing_usageeventkey (tenant_id, event_id, "timestamp") '
            'SELECT tenant_id, event_id, "timestamp" FROM billing_usageevent WHERE tenant_id = %s '
            "AND metric_id IN ('storage_gb_month', 'compute_hours') ON CONFLICT DO NOTHING",
            [tenant_id],
        )
        conn.execute(
            """
            INSERT INTO billing_usagerollup (tenant_id, metric_id, hour, resource_id, cost_center,
                                             quantity_sum, quantity_max, event_count)
            SELECT tenant_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), resource_id, cost_center,
                   sum(quantity), max(quantity), count(*)
            FROM billing_usageevent WHERE tenant_id = %s AND metric_id IN ('storage_gb_month', 'compute_hours')
            GROUP BY 1, 2, 3, 4, 5
            """,
            [tenant_id],
        )
        conn.execute(
            """
            INSERT INTO billing_usagehourly (tenant_id, metric_id, hour, quantity_sum, quantity_max, event_count)
            SELECT tenant_id, metric_id, hour, sum(quantity_sum), max(quantity_max), sum(event_count)
            FROM billing_usagerollup WHERE tenant_id = %s AND metric_id IN ('storage_gb_month', 'compute_hours')
            GROUP BY 1, 2, 3
            """,
            [tenant_id],
        )
        build_dimension_rollups(conn, tenant_id)
        _manage(["rebuild_level_rollups", "--tenant", tenant_id])
        for table in ("billing_usageevent", "billing_usagedimhourly", "billing_usagedimrollup", "billing_usagelevel"):
            conn.execute(f"ANALYZE {table}")
        return conn.execute(
            "SELECT count(*) FROM billing_usageevent WHERE tenant_id = %s "
            "AND metric_id IN ('storage_gb_month', 'compute_hours')",
            [tenant_id],
        ).fetchone()[0]


def build_dimension_rollups(conn, tenant_id: str) -> None:
    """Build the rollups per priced dimension of the section 14 events, as the ingest keeps them.

    Each event's dims: its properties projected on its metric's priced keys (`dimension_keys`, set
    by the catalog load), each value as its `->>` text (billing.services.usage_dims.project_sql).
    """
    conn.execute(
        """
        INSERT INTO billing_usagedimrollup (tenant_id, metric_id, hour, resource_id, cost_center, dims,
                                            quantity_sum, quantity_max, event_count)
        SELECT e.tenant_id, e.metric_id, date_trunc('hour', e."timestamp", 'UTC'), e.resource_id, e.cost_center,
               (SELECT COALESCE(jsonb_object_agg(k, e.properties ->> k), '{}'::jsonb)
                FROM jsonb_array_elements_text(m.dimension_keys) AS k WHERE e.properties ->> k IS NOT NULL),
               sum(e.quantity), max(e.quantity), count(*)
        FROM billing_usageevent e JOIN billing_metric m ON m.code = e.metric_id AND m.dimension_keys <> '[]'::jsonb
        WHERE e.tenant_id = %s AND e.metric_id IN ('storage_gb_month', 'compute_hours')
        GROUP BY 1, 2, 3, 4, 5, 6
        """,
        [tenant_id],
    )
    conn.execute(
        """
        INSERT INTO billing_usagedimhourly (tenant_id, metric_id, hour, dims, quantity_sum, quantity_max, event_count)
        SELECT tenant_id, metric_id, hour, dims, sum(quantity_sum), max(quantity_max), sum(event_count)
        FROM billing_usagedimrollup WHERE tenant_id = %s AND metric_id IN ('storage_gb_month', 'compute_hours')
        GROUP BY 1, 2, 3, 4
        """,
        [tenant_id],
    )


def main(
    quick: bool = False,
    *,
    events: int | None = None,
    requests: int | None = None,
    seconds: float = 60.0,
    tenant: str = TENANT,
) -> dict:
    """Run the benchmark and return its figures (p50/p99 in ms, targets met or not)."""
    n_events = events or (1_000_000 if quick else 10_000_000)
    n_requests = requests or (100 if quick else 400)
    bench_db()
    load_plan()
    facts = ensure_big_tenant(tenant, n_events=n_events)
    extra = load_section14_usage(tenant)
    headers = {"Authorization": f"Bearer {token('finance')}"}
    results = {}
    with Server(workers=2) as server:
        sub = ensure_subscription(server.port, headers, tenant, PLAN)
        say(f"tenant {tenant}: {facts['events']:,} events + {extra:,} section 14 events, plan {sub['plan_id']}")
        for name, path in (
            ("preview", f"/api/v1/billing/tenants/{tenant}/billing/preview"),
            ("summary", f"/api/v1/billing/tenants/{tenant}/usage/summary"),
        ):
            client = Client(server.port, headers)
            status, body = client.request("GET", path)
            client.close()
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {body[:500]!r}")
            r = latency(path, port=server.port, headers=headers, n=n_requests, max_seconds=seconds, warmup=10)
            say(f"{name:8s} {r.line()}")
            results[name] = {"p50_ms": round(r.p50_ms, 2), "p99_ms": round(r.p99_ms, 2), "errors": r.errors}
    met = results["preview"]["p99_ms"] <= PREVIEW_P99_MS and results["summary"]["p99_ms"] <= SUMMARY_P99_MS
    say(
        f"preview p99 {results['preview']['p99_ms']:.1f} ms (≤ {PREVIEW_P99_MS:.0f}), summary p99 "
        f"{results['summary']['p99_ms']:.1f} ms (≤ {SUMMARY_P99_MS:.0f}): {'met' if met else 'NOT met'}"
    )
    return {"events": facts["events"], **results, "met": met}


def cli() -> int:
    return latency_cli(main, __doc__.splitlines()[0], TENANT)


if __name__ == "__main__":
    sys.exit(cli())
