"""Admin for the event log, webhook endpoints (with their deliveries) and the e-mail log."""

from django.contrib import admin, messages
from django.utils.html import format_html

from billing_project.admin_tools import ReadOnlyTabularInline
from notifications.models import EmailMessage, Event, WebhookAttempt, WebhookEndpoint
from notifications.services.emails import email_resend
from notifications.services.endpoints import webhook_endpoint_send_test, webhook_endpoint_update


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "tenant_id", "created_at", "processed_at"]
    list_filter = ["type", "tenant_id"]
    search_fields = ["id", "tenant_id", "type"]
    date_hierarchy = "created_at"
    readonly_fields = ["id", "type", "tenant_id", "data", "created_at", "processed_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class WebhookAttemptInline(ReadOnlyTabularInline):
    model = WebhookAttempt
    fields = ["created_at", "event_type", "attempt", "status", "response_status", "error", "next_attempt_at"]
    readonly_fields = fields
    ordering = ["-created_at", "-attempt"]
    verbose_name_plural = "deliveries (one row per attempt, newest first)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("delivery__event")

    @admin.display(description="event")
    def event_type(self, obj) -> str:
        return f"{obj.delivery.event.type} {obj.delivery.event.id}"


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "tenant_id", "enabled_state", "event_types", "failing_since", "last_success_at"]
    list_filter = ["enabled", "tenant_id"]
    search_fields = ["url", "tenant_id", "description"]
    readonly_fields = [
        "id",
        "secret",
        "failing_since",
        "last_success_at",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    ]
    exclude = ["previous_secret", "previous_secret_expires_at"]
    inlines = [WebhookAttemptInline]
    actions = ["send_test_event", "enable"]

    @admin.display(description="enabled", ordering="enabled")
    def enabled_state(self, obj) -> str:
        if obj.enabled:
            return "yes"
        return format_html('<strong style="color:#ba2121">disabled</strong> {}', obj.disabled_reason or "")

    @admin.action(description="Send a test event to the selected endpoints")
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_send_test(endpoint=endpoint)
        self.message_user(request, f"Queued a test event to {queryset.count()} endpoint(s).")

    @admin.action(description="Re-enable the selected endpoints")
    def enable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_update(endpoint=endpoint, enabled=True)
        self.message_user(request, f"Enabled {queryset.count()} endpoint(s).")

    def changelist_view(self, request, extra_context=None):
        disabled = WebhookEndpoint.objects.filter(enabled=False).exclude(disabled_at=None).count()
        if disabled:
            self.message_user(
                request,
                f"{disabled} endpoint(s) were disabled after failing every delivery for days.",
                level=messages.WARNING,
            )
        return super().changelist_view(request, extra_context)


@admin.register(EmailMessage)
class EmailMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "to", "subject", "status", "attempts", "sent_at", "failed_at"]
    list_filter = ["status", "kind", "tenant_id"]
    search_fields = ["to", "subject", "tenant_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "event",
        "kind",
        "tenant_id",
        "to",
        "subject",
        "context",
        "status",
        "attempts",
        "next_attempt_at",
        "error",
        "created_at",
        "sent_at",
        "failed_at",
        "resent_from",
    ]
    exclude = ["claimed_until"]
    actions = ["resend"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send the selected messages again")
    def resend(self, request, queryset):
        for message in queryset:
            email_resend(message=message)
        self.message_user(request, f"Queued {queryset.count()} message(s) again.")
