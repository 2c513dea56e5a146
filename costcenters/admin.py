"""Admin for cost centers; deleting from the admin is soft, like the API, so history keeps its code."""

from django.contrib import admin

from costcenters.models import CostCenter
from costcenters.services.cost_centers import cost_center_delete


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("deleted", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(CostCenter)
class CostCenterAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "tenant", "budget", "currency", "owner_email", "created_at", "deleted_at"]
    list_filter = [LiveFilter, "currency"]
    search_fields = ["code", "name", "tenant__id", "tenant__name", "owner_email"]
    readonly_fields = ["id", "created_at", "updated_at", "deleted_at"]
    raw_id_fields = ["tenant"]
    actions = ["soft_delete"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # a hard delete would lose the history
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Delete selected cost centers (keeps their history)")
    def soft_delete(self, request, queryset):
        n = 0
        for cost_center in queryset.filter(deleted_at__isnull=True):
            cost_center_delete(cost_center=cost_center)
            n += 1
        self.message_user(request, f"Deleted {n} cost center(s).")
