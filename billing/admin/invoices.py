"""Admin for finance: invoices with their lines, and actions that call the invoice services.

Lines and totals are computed by the services and never edited here; once an invoice leaves draft
every field is read-only. Each action reports what it did and refuses with a message (never a
traceback) when an invoice is in the wrong status.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import APIException

from billing.admin.collection import (
    CreditNoteInline,
    PaymentAttemptInline,
    collection_urls,
    create_credit_note,
    mark_paid,
)
from billing.models import Invoice, InvoiceLine
from billing.services.invoices import (
    invoice_delete_draft,
    invoice_finalize,
    invoice_mark_uncollectible,
    invoice_pdf_bytes,
    invoice_render_pdf,
    invoice_void,
)
from billing_project.admin_tools import ReadOnlyTabularInline
from billing_project.fields import plain_decimal
from billing_project.money import fmt

LINE_FIELDS = [
    "position",
    "type",
    "description",
    "metric",
    "plan_id",
    "quantity_shown",
    "unit_price_shown",
    "amount_shown",
    "period_start",
    "period_end",
    "tiers_shown",
]


def money_column(field: str, label: str):
    """Return an admin display of `field` formatted in the invoice's currency ("USD 22.50")."""

    @admin.display(description=label, ordering=field)
    def show(self, obj) -> str:
        return f"{obj.currency} {fmt(getattr(obj, field), obj.currency)}"

    return show


class InvoiceLineInline(ReadOnlyTabularInline):
    model = InvoiceLine
    fields = readonly_fields = LINE_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("invoice")

    @admin.display(description="Quantity")
    def quantity_shown(self, obj) -> str:
        return plain_decimal(obj.quantity)

    @admin.display(description="Unit price")
    def unit_price_shown(self, obj) -> str:
        return "—" if obj.unit_price is None else plain_decimal(obj.unit_price)

    @admin.display(description="Amount")
    def amount_shown(self, obj) -> str:
        return fmt(obj.amount, obj.invoice.currency)

    @admin.display(description="Tiers")
    def tiers_shown(self, obj) -> str:
        if not obj.tiers:
            return "—"
        return "; ".join(f"{t['quantity']} × {t['unit_price']} = {t['amount']}" for t in obj.tiers)


def _message(exc: Exception) -> str:
    """Return the human text of a service refusal."""
    if isinstance(exc, APIException):
        detail = exc.detail
        if isinstance(detail, dict):
            return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in detail.items())
        if isinstance(detail, list):
            return " ".join(map(str, detail))
        return str(detail)
    return f"{type(exc).__name__}: {exc}"


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "tenant",
        "status",
        "currency",
        "period_start",
        "period_end",
        "total_display",
        "amount_due_display",
        "finalized_at",
        "due_at",
        "pdf_link",
    ]
    list_filter = [
        "status",
        "currency",
        ("period_start", admin.DateFieldListFilter),
        ("finalized_at", admin.DateFieldListFilter),
        ("due_at", admin.DateFieldListFilter),
        ("next_payment_attempt", admin.DateFieldListFilter),
    ]
    search_fields = ["number", "tenant__id", "tenant__name", "=id"]
    date_hierarchy = "period_start"
    list_select_related = ["tenant"]
    ordering = ["-period_start", "-created_at"]
    inlines = [InvoiceLineInline, PaymentAttemptInline, CreditNoteInline]
    actions = [
        "finalize",
        "void",
        "mark_uncollectible",
        mark_paid,
        create_credit_note,
        "regenerate_pdf",
        "download_pdf",
        "delete_drafts",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "number",
                    "status",
                    "tenant",
                    "subscription",
                    "currency",
                    "period_start",
                    "period_end",
                    "pdf_link",
                ]
            },
        ),
        (
            "Totals",
            {
                "fields": [
                    "subtotal_shown",
                    "discount_shown",
                    "discount_applied",
                    "tax_rate_shown",
                    "tax_shown",
                    "total_shown",
                    "credits_applied_shown",
                    "amount_due_shown",
                    "amount_paid_shown",
                    "credited_shown",
                    "refunded_shown",
                    "remaining_shown",
                ]
            },
        ),
        ("Dates", {"fields": ["created_at", "finalized_at", "due_at", "paid_at", "voided_at", "pdf_rendered_at"]}),
        (
            "Payment",
            {
                "fields": [
                    "collection_method",
                    "attempt_count",
                    "next_payment_attempt",
                    "dunning_exhausted_at",
                    "payment_reference",
                    "stripe_payment_intent_id",
                    "stripe_checkout_session_id",
                    "payment_note",
                ]
            },
        ),
    ]
    ALWAYS_READ_ONLY = [
        "id",
        "number",
        "status",
        "tenant",
        "subscription",
        "currency",
        "period_start",
        "period_end",
        "pdf_link",
        "subtotal_shown",
        "discount_shown",
        "discount_applied",
        "tax_rate_shown",
        "tax_shown",
        "total_shown",
        "credits_applied_shown",
        "amount_due_shown",
        "amount_paid_shown",
        "created_at",
        "finalized_at",
        "due_at",
        "paid_at",
        "voided_at",
        "pdf_rendered_at",
        "stripe_payment_intent_id",
        "stripe_checkout_session_id",
        "credited_shown",
        "refunded_shown",
        "remaining_shown",
        "collection_method",
        "attempt_count",
        "next_payment_attempt",
        "dunning_exhausted_at",
        "payment_reference",
    ]

    # --- permissions: invoices are generated by the services; only drafts are deleted ----------

    def get_readonly_fields(self, request, obj=None):
        if obj is None or obj.status == Invoice.Status.DRAFT:
            return self.ALWAYS_READ_ONLY  # a draft's note stays editable; its lines and totals never
        return [*self.ALWAYS_READ_ONLY, "payment_note"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.status != Invoice.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "Delete selected drafts" goes through the service
        return actions

    def delete_model(self, request, obj):
        invoice_delete_draft(invoice=obj)

    # --- columns -------------------------------------------------------------------------------

    subtotal_shown = money_column("subtotal", "Subtotal")
    discount_shown = money_column("discount", "Discount")
    tax_shown = money_column("tax", "Tax")
    total_shown = money_column("total", "Total")
    credits_applied_shown = money_column("credits_applied", "Credits applied")
    amount_due_shown = money_column("amount_due", "Amount due")
    amount_paid_shown = money_column("amount_paid", "Amount paid")
    credited_shown = money_column("amount_credited", "Credited (credit notes)")
    refunded_shown = money_column("amount_refunded", "Refunded")
    remaining_shown = money_column("amount_remaining", "Amount remaining")

    @admin.display(description="Tax rate")
    def tax_rate_shown(self, obj) -> str:
        return f"{plain_decimal(obj.tax_rate * 100)} %"

    @admin.display(description="Invoice", ordering="number")
    def label(self, obj) -> str:
        return obj.number or f"Draft {str(obj.id)[:8]}"

    @admin.display(description="Total", ordering="total")
    def total_display(self, obj) -> str:
        return fmt(obj.total, obj.currency)

    @admin.display(description="Amount due", ordering="amount_due")
    def amount_due_display(self, obj) -> str:
        return fmt(obj.amount_due, obj.currency)

    @admin.display(description="PDF")
    def pdf_link(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:billing_invoice_pdf", args=[obj.pk])
        return format_html('<a href="{}">Download PDF</a>', url)

    # --- the PDF download view -----------------------------------------------------------------

    def get_urls(self):
        custom = [
            path("<uuid:invoice_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
        ]
        return custom + collection_urls(self) + super().get_urls()

    def pdf_view(self, request, invoice_id):
        invoice = get_object_or_404(Invoice.objects.select_related("tenant"), pk=invoice_id)
        if not self.has_view_permission(request, invoice):
            return HttpResponseRedirect(reverse("admin:index"))
        try:
            pdf = invoice_pdf_bytes(invoice=invoice)
        except Exception as exc:  # noqa: BLE001 - a message, never a traceback
            self.message_user(
                request, f"Could not render the PDF of {self.label(invoice)}: {_message(exc)}", messages.ERROR
            )
            return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[invoice.pk]))
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number or invoice.id}.pdf"'
        return response

    # --- actions -------------------------------------------------------------------------------

    def _each(self, request, queryset, service, verb: str) -> None:
        """Apply `service` to each selected invoice; report successes and refusals separately."""
        done, refused = [], []
        for invoice in queryset.order_by("period_start", "created_at"):
            try:
                result = service(invoice=invoice)
            except Exception as exc:  # noqa: BLE001 - refusals are reported, never raised
                refused.append(f"{self.label(invoice)}: {_message(exc)}")
                continue
            done.append(self.label(result if isinstance(result, Invoice) else invoice))
        if done:
            self.message_user(
                request,
                f"{verb} {len(done)} invoice(s): {', '.join(done[:20])}" + (" …" if len(done) > 20 else ""),
                messages.SUCCESS,
            )
        for text in refused[:20]:
            self.message_user(request, f"Not {verb.lower()}: {text}", messages.WARNING)
        if len(refused) > 20:
            self.message_user(request, f"…and {len(refused) - 20} more refused.", messages.WARNING)
        if not done and not refused:
            self.message_user(request, "No invoices selected.", messages.INFO)

    @admin.action(description="Finalize selected drafts (number them, apply credits, queue the PDF)")
    def finalize(self, request, queryset):
        self._each(request, queryset, invoice_finalize, "Finalized")

    @admin.action(description="Void selected open invoices (restore their credits)")
    def void(self, request, queryset):
        self._each(request, queryset, invoice_void, "Voided")

    @admin.action(description="Mark selected open invoices uncollectible")
    def mark_uncollectible(self, request, queryset):
        self._each(request, queryset, invoice_mark_uncollectible, "Marked uncollectible")

    @admin.action(description="Regenerate the PDF of selected invoices")
    def regenerate_pdf(self, request, queryset):
        def regenerate(*, invoice):
            if invoice.status == Invoice.Status.DRAFT:
                raise ValueError("drafts are not stored; they render fresh on every download")
            return invoice_render_pdf(invoice_id=invoice.pk)

        self._each(request, queryset, regenerate, "Regenerated the PDF of")

    @admin.action(description="Download the PDF of the selected invoice")
    def download_pdf(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one invoice to download its PDF (or use the PDF column).", messages.WARNING
            )
            return None
        return self.pdf_view(request, queryset.get().pk)

    @admin.action(description="Delete selected drafts")
    def delete_drafts(self, request, queryset):
        self._each(request, queryset, invoice_delete_draft, "Deleted")
