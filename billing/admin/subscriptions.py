"""Admin for subscriptions: status, periods, trial and pending cancellation, with their plan and pause history.

Lifecycle changes go through the API's services (they keep the plan/pause history that billing
segments read), so the history here is read-only.
"""

from django.contrib import admin, messages
from django.utils import timezone

from billing.admin.terms import OneOffChargeInline, PriceOverrideInline, terms_save_formset
from billing.models import Subscription, SubscriptionPause, SubscriptionPlanSpan
from billing_project.admin_tools import ReadOnlyTabularInline


class PlanSpanInline(ReadOnlyTabularInline):
    model = SubscriptionPlanSpan
    fields = readonly_fields = ["plan", "start", "end"]
    verbose_name_plural = "plan history"


class PauseInline(ReadOnlyTabularInline):
    model = SubscriptionPause
    fields = readonly_fields = ["start", "end"]
    verbose_name_plural = "pauses"


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["tenant", "plan", "status", "current_period", "trial_end", "cancel_at_period_end", "created_at"]
    list_filter = ["status", "plan"]
    search_fields = ["tenant__id", "tenant__name"]
    list_select_related = ["tenant", "plan"]
    inlines = [PlanSpanInline, PauseInline, OneOffChargeInline, PriceOverrideInline]
    actions = ["run_invoices"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "tenant",
        "plan",
        "status",
        "currency",
        "started_at",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "canceled_at",
        "ended_at",
        "paused_at",
        "resume_at",
        "scheduled_plan",
        "invoiced_through",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def save_formset(self, request, form, formset, change):
        if not terms_save_formset(request, form.instance, formset):
            super().save_formset(request, form, formset, change)

    @admin.display(description="Current period", ordering="current_period_start")
    def current_period(self, obj) -> str:
        return f"{obj.current_period_start:%Y-%m-%d %H:%M} → {obj.current_period_end:%Y-%m-%d %H:%M}"

    @admin.action(description="Run invoices now for the selected subscriptions (ended periods)")
    def run_invoices(self, request, queryset):
        """Invoice every ended period of each selected subscription, as the scheduled run would."""
        from billing.services.invoices import invoice_run_subscription

        at = timezone.now()
        generated = finalized = 0
        failures = []
        for sub in queryset.select_related("tenant"):
            try:
                g, f = invoice_run_subscription(subscription_id=sub.pk, at=at)
            except Exception as exc:  # noqa: BLE001 - report each refusal, go on with the others
                failures.append(f"{sub.tenant_id}: {exc}")
                continue
            generated, finalized = generated + g, finalized + f
        if generated or not failures:
            self.message_user(
                request,
                f"Invoice run for {queryset.count()} subscription(s): {generated} invoice(s) generated, "
                f"{finalized} finalized." + ("" if generated else " No period had ended without an invoice."),
                messages.SUCCESS,
            )
        for failure in failures:
            self.message_user(request, f"Not invoiced — {failure}", messages.ERROR)
