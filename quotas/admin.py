"""Admin for quotas."""

from django.contrib import admin

from quotas.models import Quota


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["tenant", "metric", "limit", "period", "enforcement", "warn_at_percent", "updated_at"]
    list_filter = ["enforcement", "period", "metric"]
    search_fields = ["tenant__id", "tenant__name", "metric__code"]
    readonly_fields = ["id", "created_at", "updated_at"]
    raw_id_fields = ["tenant"]
