"""Admin pages of this area: usage events, read-only (they are an append-only record)."""

from django.contrib import admin

from billing.models import UsageEvent


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = (
        "event_id",
        "tenant_id",
        "metric_id",
        "quantity",
        "timestamp",
        "resource_id",
        "cost_center",
        "received_at",
    )
    list_filter = ("metric_id", "tenant_id")
    search_fields = ("event_id",)
    date_hierarchy = "timestamp"
    ordering = ("-timestamp",)
    show_full_result_count = False
    readonly_fields = [f.name for f in UsageEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
