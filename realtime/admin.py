"""Admin for alerts and their webhook deliveries."""

from django.contrib import admin

from billing_project.admin_tools import ReadOnlyTabularInline
from realtime.models import Alert, AlertDelivery
from realtime.services.alerts import alert_dismiss


class AlertDeliveryInline(ReadOnlyTabularInline):
    model = AlertDelivery
    fields = ["created_at", "attempts", "last_status", "delivered_at", "last_error"]
    readonly_fields = fields


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "tenant",
        "type",
        "threshold",
        "metric",
        "cost_center",
        "status",
        "triggered_at",
        "value_at_trigger",
        "period_start",
        "created_at",
    ]
    list_filter = ["status", "type"]
    search_fields = ["id", "tenant__id", "tenant__name", "metric__code", "cost_center__code", "webhook_url"]
    readonly_fields = ["id", "status", "triggered_at", "value_at_trigger", "period_start", "created_at", "updated_at"]
    raw_id_fields = ["tenant", "cost_center"]
    inlines = [AlertDeliveryInline]
    actions = ["dismiss"]

    @admin.action(description="Dismiss selected alerts until the next period")
    def dismiss(self, request, queryset):
        for alert in queryset:
            alert_dismiss(alert=alert)
        self.message_user(request, f"Dismissed {queryset.count()} alert(s).")


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "alert", "attempts", "last_status", "delivered_at", "created_at"]
    list_filter = ["last_status"]
    search_fields = ["alert__id", "alert__tenant__id"]
    readonly_fields = ["alert", "payload", "attempts", "delivered_at", "last_status", "last_error", "created_at"]
