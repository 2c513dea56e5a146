"""The hourly rollup of level metrics (`latest` / `weighted_sum`, contract section 14).

A level metric is not a total: a reading sets its resource's level until the resource's next reading.
What an hour's readings contribute to a window that covers the whole hour is still a few numbers per
(resource, cost center), and those are kept here, recomputed from the hour's raw events by the one
writer (`billing.services.usage`) in the ingest transaction, so they are exact whatever the order in
which readings arrive:

- `integral`: Σ quantity × seconds from each reading to the resource's next reading in the hour (or
  the hour's end), for this cost center's readings: the hour's ∫ level dt after its first reading;
- `first_at`: the first reading (the level carried in from before holds until the resource's first);
- `last_at`, `last_event` (the event id: ties by arrival) and `last_quantity`: the last reading, so
  the resource's level at the hour's end is the `last_quantity` of its row with the greatest
  (`last_at`, `last_event`), and `latest` is the greatest of those;
- `event_count`: readings in the hour;
- on every row of the (resource, hour), the resource's own: `hour_first_at` (its first reading in the
  hour), `hour_integral` (Σ of its rows' `integral`), and `end_of_hour` on the one row that holds its
  last reading, so whole-hour reads scan one row per (resource, hour), in index order; that row
  also keeps `cum_integral`, the resource's integral from its first reading to the hour's end.
"""

from django.db import models

from .fields import quantity_field

#: The aggregations whose metrics are levels (kept in `UsageLevel` as well as the plain rollups).
LEVEL_AGGREGATIONS = ("latest", "weighted_sum")


class UsageLevel(models.Model):
    """Per (tenant, level metric, hour, resource, cost center): the hour's readings folded exactly."""

    tenant_id = models.CharField(max_length=64)
    metric_id = models.CharField(max_length=64)
    hour = models.DateTimeField()
    resource_id = models.CharField(max_length=128, default="")
    cost_center = models.CharField(max_length=64, default="")
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    last_event = models.BigIntegerField()
    last_quantity = quantity_field()
    # unit·seconds: a 12-place quantity times microsecond seconds is exact with 18 places.
    integral = models.DecimalField(max_digits=44, decimal_places=18)
    event_count = models.BigIntegerField()
    hour_first_at = models.DateTimeField()
    hour_integral = models.DecimalField(max_digits=44, decimal_places=18)
    end_of_hour = models.BooleanField()
    # On the end-of-hour row: ∫ level dt from the resource's first reading to this hour's end, so a
    # whole-hour window is a difference of two of these (plus the level held since), whatever its length.
    cum_integral = models.DecimalField(max_digits=60, decimal_places=18, null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "metric_id", "hour", "resource_id", "cost_center"], name="usage_level_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["tenant_id", "metric_id", "resource_id", "hour"],
                name="usage_level_end",
                condition=models.Q(end_of_hour=True),
                # covering: a read of the window's end-of-hour rows is an index-only scan
                include=["hour_first_at", "hour_integral", "last_quantity", "cost_center", "cum_integral"],
            ),
        ]
