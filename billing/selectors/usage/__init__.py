"""The one reader of the usage tables (UsageEvent, UsageRollup, UsageHourly, UsageDailyDistinct,
UsageLevel); every app calls these.

windows.py    how a window [start, end) is read exactly: whole hours from rollups, edges from raw events
distinct.py   distinct values of a unique_count metric, per day or over a window (per-day distinct table)
totals.py     usage_by_metric: each metric's quantity over a window (invoices, preview, quotas, alerts)
summary.py    usage_grouped: per day, hour, resource or cost center (GET /usage/summary)
dimensions.py dimension_quantities: per resource or cost center (real-time cost by resource)
hourly.py     hourly_quantities: added per hour (real-time cost timeline)
daily.py      daily_quantities: added per UTC day (the dashboard's day-by-day usage cost)
charges.py    filtered charges and latest/weighted_sum metrics, per line, key or edge (section 14)
priced.py     filtered charges from the rollups per priced dimension (whole hours), else None
levels.py     latest/weighted_sum metrics from the level rollup (whole hours) and raw edges (section 14)
export.py     usage_events_export: a tenant's raw events over a window, streamed (export_usage)
archive.py    a month's tenants, events, rollup totals and closing invoices (the archiver, all tenants)
"""

from billing.selectors.usage.archive import (
    usage_finalized_periods,
    usage_month_event_count,
    usage_month_events,
    usage_month_rollup_totals,
    usage_month_tenants,
    usage_month_uncovered_tenants,
)
from billing.selectors.usage.charges import (
    LEVEL_AGGREGATIONS,
    charge_quantities,
    level_events,
    line_quantities_by,
    line_series,
    metric_charge,
    needs_own_read,
)
from billing.selectors.usage.daily import daily_quantities, usage_busiest_tenants
from billing.selectors.usage.dimensions import DIMENSIONS, dimension_quantities
from billing.selectors.usage.export import usage_events_export, usage_events_export_count
from billing.selectors.usage.hourly import hourly_quantities
from billing.selectors.usage.levels import level_groups
from billing.selectors.usage.summary import GROUP_BY, GroupUsage, usage_default_range, usage_grouped
from billing.selectors.usage.totals import MetricUsage, usage_by_metric

__all__ = [
    "DIMENSIONS",
    "LEVEL_AGGREGATIONS",
    "level_events",
    "level_groups",
    "line_quantities_by",
    "line_series",
    "metric_charge",
    "GROUP_BY",
    "GroupUsage",
    "MetricUsage",
    "charge_quantities",
    "daily_quantities",
    "dimension_quantities",
    "hourly_quantities",
    "needs_own_read",
    "usage_busiest_tenants",
    "usage_by_metric",
    "usage_default_range",
    "usage_events_export",
    "usage_events_export_count",
    "usage_finalized_periods",
    "usage_month_event_count",
    "usage_month_events",
    "usage_month_rollup_totals",
    "usage_month_tenants",
    "usage_month_uncovered_tenants",
    "usage_grouped",
]
