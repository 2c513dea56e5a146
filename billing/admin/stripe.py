"""Admin for stored Stripe webhook events: browse them, and reprocess the ones that failed."""

from django.contrib import admin, messages

from billing.models import StripeWebhookEvent
from billing.stripe.webhooks import webhook_event_process


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(admin.ModelAdmin):
    list_display = ["event_id", "type", "signature_valid", "processed", "short_error", "received_at", "processed_at"]
    list_filter = ["type", "processed", "signature_valid"]
    search_fields = ["event_id"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "event_id",
        "type",
        "signature_valid",
        "processed",
        "processed_at",
        "error",
        "received_at",
        "raw_body",
    ]
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record of what Stripe sent: read-only

    def has_delete_permission(self, request, obj=None):
        return False  # the event ids are what makes replays harmless

    @admin.display(description="Error")
    def short_error(self, obj) -> str:
        return obj.error[:80] + ("…" if len(obj.error) > 80 else "")

    @admin.action(description="Reprocess selected failed events", permissions=["view"])
    def reprocess(self, request, queryset):
        """Apply again each selected verified event that is not processed yet (safe: once per event)."""
        done, failed = 0, []
        skipped = queryset.exclude(processed=False, signature_valid=True).count()
        for event_id in (
            queryset.filter(processed=False, signature_valid=True).order_by("pk").values_list("pk", flat=True)
        ):
            event = webhook_event_process(event_id=event_id)
            if event.processed:
                done += 1
            else:
                failed.append(f"{event.event_id}: {event.error}")
        self.message_user(request, f"Reprocessed {done} event(s); skipped {skipped} already processed or unverified.")
        for line in failed:
            self.message_user(request, f"Still failing: {line}", level=messages.WARNING)
