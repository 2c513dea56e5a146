"""Usage rollups per priced dimension (contract section 14's charge filters).

A metric's *priced keys* (`Metric.dimension_keys`) are the property keys that any charge filter on
it reads (the catalog's charges and the price overrides). An event's *dims* is its properties
projected on those keys, as a JSON object of the text each value compares as (`properties ->> key`,
keys without a value left out): `{"type": "gpu"}`. A jsonb object rather than a positional key
because it describes itself (a row is read the same way whatever key list wrote it), compares by
value (key order does not matter, so it is a unique key), and holds exactly what a filter compares.

`UsageDimHourly` (per tenant, metric, hour, dims) prices filtered charges (preview, estimate,
invoices, real-time current and timeline); `UsageDimRollup` adds the resource and cost center (real-time
cost by resource or cost center). Both are kept by the ingest statement in the transaction of the
insert, for metrics with priced keys only. `UsageDimCoverage` says from which hour a tenant's rows
hold the current priced keys (rebuilt when the keys change); without a row, all of them do.
"""

from django.db import models

from .usage import RollupAggregates


class UsageDimHourly(RollupAggregates):
    """Per (tenant, metric, hour, dims) aggregates of a metric with priced keys."""

    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    hour = models.DateTimeField()
    dims = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "metric_id", "hour", "dims"], name="usage_dim_hourly_key"),
        ]


class UsageDimRollup(RollupAggregates):
    """Per (tenant, metric, hour, resource, cost center, dims) aggregates; '' means none."""

    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    hour = models.DateTimeField()
    resource_id = models.CharField(max_length=128, default="")
    cost_center = models.CharField(max_length=64, default="")
    dims = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "metric_id", "hour", "resource_id", "cost_center", "dims"],
                name="usage_dim_rollup_key",
            ),
        ]


class UsageDimCoverage(models.Model):
    """The hour from which a tenant's dimension rollups of a metric hold its current priced keys.

    Written when the keys change: rows before `valid_from` (closed periods, never re-priced) were
    not rebuilt, so a read reaching before it takes the raw events instead.
    """

    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    valid_from = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "metric_id"], name="usage_dim_coverage_key"),
        ]
