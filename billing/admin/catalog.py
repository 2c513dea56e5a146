"""Admin for the catalog: metrics, and plans with their charges inline."""

from django import forms
from django.contrib import admin

from billing.models import Charge, Metric, Plan
from billing.services.catalog import CatalogError, charge_filters_validate
from billing.services.usage_dims import usage_dimensions_sync
from billing.services.usage_levels import usage_levels_adopt


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "unit", "aggregation", "field", "dimension_keys"]
    list_filter = ["aggregation"]
    # Priced keys: written by the catalog's sync (charge filters and price overrides), shown here.
    readonly_fields = ["dimension_keys"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        previous = dict(Metric.objects.filter(code=obj.code).values_list("code", "aggregation"))
        super().save_model(request, obj, form, change)
        usage_levels_adopt(previous)  # became `latest`/`weighted_sum`: fold its events into the level rollup


class ChargeForm(forms.ModelForm):
    """A charge's filters are checked like the catalog loader checks them (messages name the filter)."""

    class Meta:
        model = Charge
        fields = "__all__"  # noqa: DJ007 - the admin edits every charge column; clean_* add the rules

    def clean_filters(self):
        value = self.cleaned_data.get("filters") or []
        try:
            return charge_filters_validate(value, "filters")
        except CatalogError as exc:
            raise forms.ValidationError(exc.errors) from None


class ChargeInline(admin.StackedInline):
    model = Charge
    extra = 0
    form = ChargeForm
    fields = [
        ("metric", "model", "position"),
        ("unit_price", "free_units"),
        ("package_size", "package_price"),
        "tiers",
        "filters",
    ]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "currency",
        "interval",
        "base_price",
        "minimum_amount",
        "trial_days",
        "active",
        "charge_count",
    ]
    list_filter = ["active", "currency", "interval"]
    search_fields = ["id", "name"]
    inlines = [ChargeInline]
    actions = ["deactivate"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # In the admin's transaction: a charge filter's new property keys re-aggregate the open periods.
        usage_dimensions_sync()

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_charges=Count("charges"))

    @admin.display(description="Charges", ordering="_charges")
    def charge_count(self, obj) -> int:
        return obj._charges

    @admin.action(description="Deactivate selected plans (subscriptions keep them)")
    def deactivate(self, request, queryset):
        n = queryset.filter(active=True).update(active=False)
        self.message_user(request, f"Deactivated {n} plan(s).")
