"""Admin for collecting and correcting invoices: payment attempts and credit notes inline on the
invoice, the "Create credit note" and "Mark paid" forms (each calls its service), and a read-only
credit note list with its PDF.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from rest_framework.exceptions import APIException
from rest_framework.exceptions import ValidationError as ApiValidationError

from billing.models import CreditNote, Invoice, PaymentAttempt
from billing.pdf.credit_note import render_credit_note_pdf
from billing.services.credit_notes.create import credit_note_create
from billing.services.credit_notes.refund import credit_note_refund, credit_note_refund_retry
from billing.services.payments.mark_paid import invoice_mark_paid
from billing_project.admin_tools import ReadOnlyTabularInline, api_errors_to_form
from billing_project.money import fmt


def _money(obj, field: str) -> str:
    return f"{obj.currency} {fmt(getattr(obj, field), obj.currency)}"


class PaymentAttemptInline(ReadOnlyTabularInline):
    model = PaymentAttempt
    fields = ["attempt", "trigger", "status", "amount_shown", "stripe_payment_intent_id", "failure_code",
              "failure_message", "created_at", "next_retry_at"]  # fmt: skip
    readonly_fields = fields
    ordering = ["attempt"]

    @admin.display(description="Amount")
    def amount_shown(self, obj) -> str:
        return _money(obj, "amount")


class CreditNoteInline(ReadOnlyTabularInline):
    model = CreditNote
    fields = ["number_link", "reason", "total_shown", "applied_shown", "refund_shown", "credit_shown",
              "refund_status", "created_at"]  # fmt: skip
    readonly_fields = fields
    ordering = ["created_at"]

    @admin.display(description="Number")
    def number_link(self, obj) -> str:
        url = reverse("admin:billing_creditnote_pdf", args=[obj.pk])
        return format_html('{} (<a href="{}">PDF</a>)', obj.number, url)

    @admin.display(description="Total")
    def total_shown(self, obj) -> str:
        return _money(obj, "total")

    @admin.display(description="Applied")
    def applied_shown(self, obj) -> str:
        return _money(obj, "applied_amount")

    @admin.display(description="Refund")
    def refund_shown(self, obj) -> str:
        return _money(obj, "refund_amount")

    @admin.display(description="Credit")
    def credit_shown(self, obj) -> str:
        return _money(obj, "credit_amount")


class CreditNoteForm(forms.Form):
    amount = forms.DecimalField(max_digits=20, decimal_places=4, help_text="Tax-inclusive total to credit.")
    reason = forms.ChoiceField(choices=CreditNote.Reason.choices)
    memo = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    refund_amount = forms.DecimalField(
        max_digits=20, decimal_places=4, required=False, help_text="Part refunded through Stripe (the rest is credit)."
    )


class MarkPaidForm(forms.Form):
    reference = forms.CharField(max_length=255, help_text="e.g. the bank transfer's reference.")
    paid_at = forms.DateTimeField(required=False, help_text="Defaults to now.")


def _run_form(model_admin, request, invoice_id, *, form_class, title: str, apply):
    """Show `form_class` for one invoice; on a valid POST call `apply(invoice, data)` and go back to it."""
    invoice = get_object_or_404(Invoice.objects.select_related("tenant"), pk=invoice_id)
    back = reverse("admin:billing_invoice_change", args=[invoice.pk])
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            message = apply(invoice, form.cleaned_data)
        except ApiValidationError as exc:
            api_errors_to_form(form, exc)
        except APIException as exc:
            model_admin.message_user(request, f"{title} refused: {exc.detail}", messages.ERROR)
            return HttpResponseRedirect(back)
        else:
            model_admin.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(back)
    summary = (
        f"Invoice {invoice} ({invoice.status}): total {_money(invoice, 'total')}, credited "
        f"{_money(invoice, 'amount_credited')}, paid {_money(invoice, 'amount_paid')}, "
        f"remaining {invoice.currency} {fmt(invoice.amount_remaining, invoice.currency)}."
    )
    context = {**model_admin.admin_site.each_context(request), "title": title, "form": form, "invoice": invoice,
               "summary": summary, "opts": Invoice._meta}  # fmt: skip
    return TemplateResponse(request, "admin/billing/invoice_form_action.html", context)


def credit_note_view(model_admin, request, invoice_id):
    def apply(invoice, data):
        note = credit_note_create(
            invoice=invoice, amount=data["amount"], reason=data["reason"], memo=data["memo"],
            refund_amount=data.get("refund_amount"),
        )  # fmt: skip
        if note.refund_amount > 0:
            note = credit_note_refund(credit_note_id=note.pk)
        refund = f", refund {note.refund_status}" if note.refund_amount > 0 else ""
        return f"Created credit note {note.number} of {_money(note, 'total')}{refund}."

    return _run_form(model_admin, request, invoice_id, form_class=CreditNoteForm, title="Create credit note",
                     apply=apply)  # fmt: skip


def mark_paid_view(model_admin, request, invoice_id):
    def apply(invoice, data):
        paid = invoice_mark_paid(invoice=invoice, reference=data["reference"], paid_at=data.get("paid_at"))
        return f"Marked {paid} paid (reference {data['reference']})."

    return _run_form(model_admin, request, invoice_id, form_class=MarkPaidForm, title="Mark paid", apply=apply)


def collection_urls(model_admin) -> list:
    """Return the invoice admin's extra form pages."""
    view = model_admin.admin_site.admin_view
    return [
        path("<uuid:invoice_id>/credit-note/", view(lambda r, invoice_id: credit_note_view(model_admin, r, invoice_id)),
             name="billing_invoice_credit_note"),
        path("<uuid:invoice_id>/mark-paid/", view(lambda r, invoice_id: mark_paid_view(model_admin, r, invoice_id)),
             name="billing_invoice_mark_paid"),
    ]  # fmt: skip


def _one_invoice_form(model_admin, request, queryset, url_name: str):
    if queryset.count() != 1:
        model_admin.message_user(request, "Select exactly one invoice.", messages.WARNING)
        return None
    return HttpResponseRedirect(reverse(url_name, args=[queryset.get().pk]))


@admin.action(description="Create credit note for the selected invoice")
def create_credit_note(model_admin, request, queryset):
    return _one_invoice_form(model_admin, request, queryset, "admin:billing_invoice_credit_note")


@admin.action(description="Mark the selected invoice paid (outside Stripe)")
def mark_paid(model_admin, request, queryset):
    return _one_invoice_form(model_admin, request, queryset, "admin:billing_invoice_mark_paid")


@admin.register(CreditNote)
class CreditNoteAdmin(admin.ModelAdmin):
    list_display = ["number", "invoice", "tenant", "reason", "total", "refund_amount", "refund_status", "created_at"]
    list_filter = ["reason", "refund_status", "currency"]
    search_fields = ["number", "invoice__number", "tenant__id"]
    list_select_related = ["invoice", "tenant"]
    actions = ["retry_refund"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in CreditNote._meta.fields if f.name != "pdf"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        pdf = path("<uuid:note_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_creditnote_pdf")
        return [pdf, *super().get_urls()]

    def pdf_view(self, request, note_id):
        note = get_object_or_404(CreditNote.objects.select_related("invoice__tenant"), pk=note_id)
        response = HttpResponse(render_credit_note_pdf(note), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{note.number}.pdf"'
        return response

    @admin.action(description="Retry the failed refund of selected credit notes")
    def retry_refund(self, request, queryset):
        for note in queryset.filter(refund_status=CreditNote.RefundStatus.FAILED):
            note = credit_note_refund(credit_note_id=credit_note_refund_retry(credit_note=note).pk)
            self.message_user(request, f"{note.number}: refund {note.refund_status}.", messages.INFO)
