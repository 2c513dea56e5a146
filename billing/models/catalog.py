"""The catalog: metrics, plans and their charges (loaded by `load_catalog`, editable in admin)."""

from django.db import models

from .fields import currency_field, money_field, price_field, quantity_field


class Metric(models.Model):
    class Aggregation(models.TextChoices):
        SUM = "sum"
        COUNT = "count"
        MAX = "max"
        UNIQUE_COUNT = "unique_count"
        LATEST = "latest"
        WEIGHTED_SUM = "weighted_sum"

    code = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=50, blank=True)
    aggregation = models.CharField(max_length=16, choices=Aggregation.choices)
    field = models.CharField(max_length=128, blank=True, help_text="properties[field] for unique_count")
    dimension_keys = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="The property keys that charge filters on this metric read; the ingest keeps them per event.",
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Plan(models.Model):
    class Interval(models.TextChoices):
        MONTH = "month"
        YEAR = "year"

    id = models.CharField(primary_key=True, max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    currency = currency_field()
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.MONTH)
    base_price = money_field(default=0)
    trial_days = models.PositiveIntegerField(default=0)
    minimum_amount = money_field(
        null=True, blank=True, help_text="Minimum commitment per billing period, prorated per segment."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Charge(models.Model):
    class Model(models.TextChoices):
        PER_UNIT = "per_unit"
        GRADUATED = "graduated"
        VOLUME = "volume"
        PACKAGE = "package"

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="charges")
    metric = models.ForeignKey(Metric, on_delete=models.PROTECT, related_name="charges")
    model = models.CharField(max_length=16, choices=Model.choices)
    unit_price = price_field(null=True, blank=True)
    free_units = quantity_field(default=0)
    package_size = quantity_field(null=True, blank=True)
    package_price = price_field(null=True, blank=True)
    tiers = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"up_to": "10000" | null, "unit_price": "0.0004", "flat_fee": "0"}] as strings',
    )
    filters = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"name": "GPU", "properties": {"type": ["gpu"]}, "model": "per_unit", "unit_price": "2.50"}]',
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["plan_id", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["plan", "metric"], name="charge_one_per_metric")]

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.metric_id} ({self.model})"
