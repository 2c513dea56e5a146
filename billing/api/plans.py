"""GET /plans and GET /plans/:planId."""

from decimal import Decimal

from django.urls import path
from django_filters import rest_framework as filters
from rest_framework import generics, serializers

from billing.models import Charge, Metric, Plan
from billing.selectors.terms import charge_fields
from billing_project.errors import NotFound
from billing_project.fields import DecimalStringField, MoneyField
from billing_project.money import fmt, fmt_price


class MetricSerializer(serializers.ModelSerializer):
    field = serializers.SerializerMethodField()

    class Meta:
        model = Metric
        fields = ["code", "name", "unit", "aggregation", "field"]

    def get_field(self, obj) -> str | None:
        return obj.field or None


class ChargeSerializer(serializers.ModelSerializer):
    """A charge with only its model's pricing fields."""

    metric = serializers.CharField(source="metric_id")

    class Meta:
        model = Charge
        fields = ["metric", "model"]

    def to_representation(self, obj):
        return {"metric": obj.metric_id, **charge_pricing_data(charge_fields(obj), obj.plan.currency, obj.filters)}


def charge_pricing_data(fields: dict, currency: str, filters: list | None = None) -> dict:
    """Return a charge's model and only its model's pricing fields (plus its filters, when it has any)."""
    model = fields["model"]
    data = {"model": model}
    qty = DecimalStringField().to_representation
    if model == "per_unit":
        data.update(
            unit_price=fmt_price(Decimal(str(fields["unit_price"])), currency),
            free_units=qty(_d(fields.get("free_units"))),
        )
    elif model == "package":
        data.update(
            package_size=qty(_d(fields["package_size"])),
            package_price=fmt_price(Decimal(str(fields["package_price"])), currency),
            free_units=qty(_d(fields.get("free_units"))),
        )
    else:
        data["tiers"] = [
            {
                "up_to": None if t.get("up_to") is None else qty(Decimal(str(t["up_to"]))),
                "unit_price": fmt_price(Decimal(str(t["unit_price"])), currency),
                **(
                    {"flat_fee": fmt(Decimal(str(t["flat_fee"])), currency)}
                    if Decimal(str(t.get("flat_fee") or 0))
                    else {}
                ),
            }
            for t in fields.get("tiers") or []
        ]
    filters = fields.get("filters") if filters is None else filters
    if filters:
        data["filters"] = [
            {"name": f["name"], "properties": f["properties"], **charge_pricing_data(f, currency, [])} for f in filters
        ]
    return data


def _d(value) -> Decimal:
    return Decimal(str(value or 0))


class PlanSerializer(serializers.ModelSerializer):
    base_price = MoneyField()
    minimum_amount = MoneyField()
    charges = ChargeSerializer(many=True, read_only=True)
    metrics = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "description",
            "currency",
            "interval",
            "base_price",
            "trial_days",
            "minimum_amount",
            "active",
            "charges",
            "metrics",
        ]

    def get_metrics(self, obj) -> list[dict]:
        seen = {}
        for charge in obj.charges.all():
            seen.setdefault(charge.metric_id, charge.metric)
        return MetricSerializer(list(seen.values()), many=True).data


class PlanFilter(filters.FilterSet):
    currency = filters.CharFilter(field_name="currency", lookup_expr="iexact")
    interval = filters.ChoiceFilter(choices=Plan.Interval.choices)

    class Meta:
        model = Plan
        fields = ["currency", "interval"]


class PlanListView(generics.ListAPIView):
    """List active plans (filter `?currency=`)."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = PlanSerializer
    filterset_class = PlanFilter
    queryset = Plan.objects.filter(active=True).prefetch_related("charges__metric", "charges__plan").order_by("id")


class PlanDetailView(generics.RetrieveAPIView):
    """Get one plan by its catalog code (inactive ones too)."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = PlanSerializer
    queryset = Plan.objects.prefetch_related("charges__metric", "charges__plan")
    lookup_url_kwarg = "plan_id"

    def get_object(self):
        try:
            return self.get_queryset().get(pk=self.kwargs["plan_id"])
        except Plan.DoesNotExist:
            raise NotFound(f"No plan '{self.kwargs['plan_id']}'.") from None


urlpatterns = [
    path("plans", PlanListView.as_view(), name="plan-list"),
    path("plans/<str:plan_id>", PlanDetailView.as_view(), name="plan-detail"),
]
