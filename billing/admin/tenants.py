"""Admin for tenants (billing accounts): their subscription, credit balance and invoices at a glance.

The list shows each tenant's live subscription, unexpired credit balance and a link to its invoices
(two clicks from the admin index to any tenant's invoices). Those columns come from subqueries
annotated on the list's one query, so a page of 100 tenants is still a handful of queries.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, DecimalField, OuterRef, Q, Subquery, Sum
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.utils.html import format_html

from billing.admin.charts import money_label
from billing.admin.dashboard import admin_url, tenant_invoices_url
from billing.models import CreditGrant, Invoice, Subscription, Tenant, TenantUser
from billing.selectors.credits import credits_available
from billing_project.admin_tools import ReadOnlyTabularInline

RECENT_INVOICES = 10


class TenantUserInline(admin.TabularInline):
    model = TenantUser
    extra = 0
    autocomplete_fields = ["user"]


class _ReadOnlyInline(ReadOnlyTabularInline):
    show_change_link = True


class _RecentFormSet(BaseInlineFormSet):
    """Only the tenant's newest invoices (the filter by tenant has to come before the slice)."""

    def get_queryset(self):
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[:RECENT_INVOICES]
        return self._recent


class RecentInvoiceInline(_ReadOnlyInline):
    model = Invoice
    formset = _RecentFormSet
    verbose_name = "recent invoice"
    verbose_name_plural = f"recent invoices (newest {RECENT_INVOICES})"
    fields = ["status", "period", "total_amount", "amount_due_amount", "finalized", "due"]
    readonly_fields = fields
    ordering = ["-period_start", "-created_at"]

    @admin.display(description="Period")
    def period(self, obj) -> str:
        return f"{obj.period_start:%d %b %Y} – {obj.period_end:%d %b %Y}"

    @admin.display(description="Finalized")
    def finalized(self, obj) -> str:
        return f"{obj.finalized_at:%d %b %Y}" if obj.finalized_at else "—"

    @admin.display(description="Due")
    def due(self, obj) -> str:
        return f"{obj.due_at:%d %b %Y}" if obj.due_at else "—"

    @admin.display(description="Total")
    def total_amount(self, obj) -> str:
        return money_label(obj.total, obj.currency)

    @admin.display(description="Amount due")
    def amount_due_amount(self, obj) -> str:
        return money_label(obj.amount_due, obj.currency)


class SubscriptionInline(_ReadOnlyInline):
    model = Subscription
    fields = ["plan", "status", "currency", "started", "current_period", "cancel_at_period_end", "ended"]
    readonly_fields = fields

    @admin.display(description="Started")
    def started(self, obj) -> str:
        return f"{obj.started_at:%d %b %Y %H:%M}"

    @admin.display(description="Current period")
    def current_period(self, obj) -> str:
        return f"{obj.current_period_start:%d %b %Y} – {obj.current_period_end:%d %b %Y}"

    @admin.display(description="Ended")
    def ended(self, obj) -> str:
        return f"{obj.ended_at:%d %b %Y %H:%M}" if obj.ended_at else "—"

    ordering = ["-created_at"]


def _live_subscription(field: str) -> Subquery:
    return Subquery(
        Subscription.objects.filter(tenant=OuterRef("pk"))
        .exclude(status=Subscription.Status.CANCELED)
        .order_by("-created_at")
        .values(field)[:1]
    )


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "tax_rate_percent",
        "stripe_customer_id",
        "current_subscription",
        "credit_balance",
        "invoices_link",
    ]
    search_fields = ["id", "name", "email", "stripe_customer_id"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["id", "name", "email", "address"]}),
        ("Billing", {"fields": ["tax_rate", "stripe_customer_id", "credits_now", "invoices_summary"]}),
        ("Billing settings", {"fields": ["billing_email", "collection_method", "payment_method_shown"]}),
    ]
    readonly_fields = ["credits_now", "invoices_summary", "payment_method_shown"]
    inlines = [SubscriptionInline, RecentInvoiceInline, TenantUserInline]

    def get_queryset(self, request):
        now = timezone.now()
        credits = (
            CreditGrant.objects.filter(tenant=OuterRef("pk"), currency=OuterRef("_sub_currency"), remaining__gt=0)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .order_by()
            .values("tenant")
            .annotate(s=Sum("remaining"))
            .values("s")
        )
        invoices = (
            Invoice.objects.filter(tenant=OuterRef("pk"))
            .order_by()
            .values("tenant")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                _sub_plan=_live_subscription("plan_id"),
                _sub_status=_live_subscription("status"),
                _sub_currency=_live_subscription("currency"),
            )
            .annotate(
                _credits=Subquery(credits, output_field=DecimalField(max_digits=20, decimal_places=6)),
                _invoices=Subquery(invoices),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        # The id is the tenant's key everywhere (tokens, usage, invoices): set once, never changed.
        return [*self.readonly_fields, "id"] if obj else self.readonly_fields

    @admin.display(description="Default payment method")
    def payment_method_shown(self, obj) -> str:
        if not obj.default_payment_method_id:
            return "None (set by the tenant through the API, Checkout or the Stripe portal)"
        card = f"{obj.payment_method_brand or obj.payment_method_type} •••• {obj.payment_method_last4}"
        expiry = (
            f", expires {obj.payment_method_exp_month:02d}/{obj.payment_method_exp_year}"
            if obj.payment_method_exp_year
            else ""
        )
        return f"{card}{expiry} ({obj.default_payment_method_id})"

    @admin.display(description="Tax rate", ordering="tax_rate")
    def tax_rate_percent(self, obj) -> str:
        percent = (obj.tax_rate * 100).normalize()
        return f"{percent:f} %"

    @admin.display(description="Subscription", ordering="_sub_plan")
    def current_subscription(self, obj) -> str:
        if not getattr(obj, "_sub_plan", None):
            return "—"
        return f"{obj._sub_plan} ({obj._sub_status})"

    @admin.display(description="Credit balance", ordering="_credits")
    def credit_balance(self, obj) -> str:
        if not getattr(obj, "_sub_currency", None):
            return "—"
        return money_label(obj._credits or Decimal(0), obj._sub_currency)

    @admin.display(description="Invoices", ordering="_invoices")
    def invoices_link(self, obj):
        url = tenant_invoices_url(obj.pk)
        count = getattr(obj, "_invoices", None) or 0
        if not url:
            return count
        return format_html('<a href="{}">Invoices ({})</a>', url, count)

    @admin.display(description="Credits available now")
    def credits_now(self, obj) -> str:
        if obj is None or not obj.pk:
            return "—"
        currency = getattr(obj, "_sub_currency", None)
        if not currency:
            return "— (no live subscription)"
        return money_label(credits_available(tenant_id=obj.pk, currency=currency, at=timezone.now()), currency)

    @admin.display(description="Invoices")
    def invoices_summary(self, obj):
        if obj is None or not obj.pk:
            return "—"
        url = tenant_invoices_url(obj.pk)
        count = getattr(obj, "_invoices", None) or 0
        open_url = admin_url("billing_invoice_changelist", {"tenant__id__exact": obj.pk, "status__exact": "open"})
        if not url:
            return count
        return format_html('<a href="{}">All {} invoices</a> · <a href="{}">open ones</a>', url, count, open_url)
