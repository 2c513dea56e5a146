"""Usage events and the rollups kept in step with them.

`UsageEvent` is the raw, append-only record, a table partitioned by month of `timestamp` (the DDL is in
`billing/services/usage_partitions.py`: the database's primary key is `(id, "timestamp")`, Django
keeps `id`). `UsageEventKey` (unpartitioned) holds `(tenant_id, event_id)` as its primary key: the
ingest inserts there first, so a re-sent event is stored once. `UsageRollup` holds per (tenant,
metric, hour, resource, cost center) aggregates and `UsageHourly` per (tenant, metric, hour); both
are updated in the same transaction as the insert, so `sum`, `count` and `max` never scan raw
events. Partial hours at a range's edges are read from raw events through the (tenant_id,
metric_id, timestamp) index. `UsageDailyDistinct` holds which distinct values of a
`unique_count` metric were seen on which UTC day, written by the same statement.

Both rollups are striped: a key may have several rows, one per `shard` (the writing connection's
stripe, one of `ROLLUP_SHARDS`, see `billing.services.usage._connection_shard`), so concurrent
writers of one tenant's busiest metric update different rows instead of queueing on one row lock
held until each commit is flushed. Readers always aggregate over the shards (SUM of sums and
counts, MAX of maxima).
"""

from django.db import models
from django.db.models import Q

from .fields import quantity_field

ROLLUP_SHARDS = 16
# SQL of the UTC hour a timestamptz expression (the format argument) falls in, as the rollups' `hour`:
# date_trunc('hour', ts, 'UTC') by arithmetic on the instant (no time zone looked up per row, ≈ 0.3 µs
# less an event). The origin is a UTC hour before any instant, so no input lies before it.
UTC_HOUR_SQL = "date_bin('1 hour', {}, '0001-01-01 00:00:00+00')"


class UsageEvent(models.Model):
    id = models.BigAutoField(primary_key=True)
    tenant_id = models.CharField(max_length=64)
    event_id = models.CharField(max_length=128)
    metric_id = models.CharField(max_length=64)
    quantity = quantity_field(default=1)
    timestamp = models.DateTimeField()
    resource_id = models.CharField(max_length=128, blank=True, default="")
    cost_center = models.CharField(max_length=64, blank=True, default="")
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()
    # md5 of properties[metric.field] for unique_count metrics (null otherwise), set by the ingest
    # statement: a fixed-width key that a partial index can hold, so distinct counts skip-scan it.
    unique_key = models.CharField(max_length=32, null=True, blank=True, editable=False)  # noqa: DJ001 (see above)

    class Meta:
        # No unique constraint: on a partitioned table it would have to include "timestamp";
        # exactly-once is UsageEventKey's primary key.
        indexes = [
            models.Index(fields=["tenant_id", "metric_id", "timestamp"], name="usage_tenant_metric_ts"),
            models.Index(
                fields=["tenant_id", "metric_id", "unique_key", "timestamp"],
                name="usage_unique_key",
                condition=Q(unique_key__isnull=False),
            ),
        ]


class UsageEventKey(models.Model):
    """One row per stored event: the (tenant_id, event_id) primary key decides what is a duplicate.

    `timestamp` is the event's, so the archiver deletes the keys of a month it drops (a re-sent event
    of that month is refused as `period_closed` before it reaches this table).
    """

    pk = models.CompositePrimaryKey("tenant_id", "event_id")
    # Byte order ("C"): the key is compared with memcmp, not the locale's strcoll, on every probe of
    # every ingest (the same order as C.UTF-8's code points; opaque ids need no linguistic order).
    tenant_id = models.CharField(max_length=64, db_collation="C")
    event_id = models.CharField(max_length=128, db_collation="C")
    timestamp = models.DateTimeField()


class RollupAggregates(models.Model):
    """What every rollup row keeps of its events: sums and counts add up, maxima take the greater."""

    quantity_sum = quantity_field(default=0)
    quantity_max = quantity_field(default=0)
    event_count = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class UsageRollup(RollupAggregates):
    """Per (tenant, metric, hour, resource, cost center) aggregates; '' means none."""

    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    hour = models.DateTimeField()
    resource_id = models.CharField(max_length=128, default="")
    cost_center = models.CharField(max_length=64, default="")
    shard = models.SmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "metric_id", "hour", "resource_id", "cost_center", "shard"],
                name="usage_rollup_shard_key",
            ),
        ]


class UsageHourly(RollupAggregates):
    """Per (tenant, metric, hour) aggregates: what previews, invoices and summaries read."""

    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    hour = models.DateTimeField()
    shard = models.SmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "metric_id", "hour", "shard"], name="usage_hourly_shard_key"),
        ]


class UsageDailyDistinct(models.Model):
    """The distinct values (`unique_key`) of a unique_count metric seen on each UTC day.

    One row per (tenant, metric, day, value), inserted by the ingest statement with ON CONFLICT DO
    NOTHING, so it is exactly the set of (day, unique_key) of the raw events. A day's distinct count
    is its number of rows; a range of whole days counts DISTINCT unique_key over its days' rows; a
    partial day at a range's edge narrows the day's rows to those with a raw event inside the edge.
    Whole-day distinct counts therefore survive the raw events' archiving.
    """

    pk = models.CompositePrimaryKey("tenant_id", "metric_id", "day", "unique_key")
    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    day = models.DateField()
    unique_key = models.CharField(max_length=32)
