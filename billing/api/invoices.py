"""Invoices (contract section 6): generate, list, get, finalize, void, delete a draft, download the PDF.

Tenants may list, get and download their own invoices; generating, finalizing, voiding and
deleting are finance only. Another tenant's invoice reached by id is 404.
"""

from __future__ import annotations

from django import forms
from django.urls import path
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Invoice, InvoiceLine
from billing.selectors.calculation import bill_line_data
from billing.selectors.invoices import invoice_list, invoice_queryset
from billing.services.invoices import (
    invoice_delete_draft,
    invoice_finalize,
    invoice_generate,
    invoice_pdf_bytes,
    invoice_void,
)
from billing_project.errors import NotFound
from billing_project.fields import InstantField, MoneyField, parse_instant
from billing_project.permissions import scope_to_caller
from billing_project.renderers import PdfDownloadView

READ_ROLES = {"finance", "tenant"}
FINANCE = {"finance"}


class InvoiceLineSerializer(serializers.Serializer):
    """Schema of one invoice line (rendering goes through `invoice_line_data`)."""

    type = serializers.ChoiceField(choices=InvoiceLine.Type.choices)
    description = serializers.CharField()
    metric = serializers.CharField(required=False)
    plan_id = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField(required=False)
    amount = serializers.CharField()
    period_start = serializers.CharField()
    period_end = serializers.CharField()
    tiers = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)


class InvoiceSerializer(serializers.ModelSerializer):
    """The contract's invoice JSON."""

    tenant_id = serializers.CharField(read_only=True)
    subscription_id = serializers.SerializerMethodField()
    period_start = InstantField(read_only=True)
    period_end = InstantField(read_only=True)
    lines = serializers.SerializerMethodField()
    subtotal = MoneyField()
    discount = MoneyField()
    tax = MoneyField()
    total = MoneyField()
    credits_applied = MoneyField()
    amount_due = MoneyField()
    amount_paid = MoneyField()
    created_at = InstantField(read_only=True)
    finalized_at = InstantField(read_only=True, allow_null=True)
    due_at = InstantField(read_only=True, allow_null=True)
    paid_at = InstantField(read_only=True, allow_null=True)
    voided_at = InstantField(read_only=True, allow_null=True)
    stripe_payment_intent_id = serializers.SerializerMethodField()
    next_payment_attempt = InstantField(read_only=True)
    amount_credited = MoneyField()
    amount_refunded = MoneyField()
    amount_remaining = MoneyField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "tenant_id",
            "subscription_id",
            "status",
            "currency",
            "period_start",
            "period_end",
            "lines",
            "subtotal",
            "discount",
            "tax",
            "total",
            "credits_applied",
            "amount_due",
            "amount_paid",
            "created_at",
            "finalized_at",
            "due_at",
            "paid_at",
            "voided_at",
            "stripe_payment_intent_id",
            "collection_method",
            "attempt_count",
            "next_payment_attempt",
            "amount_credited",
            "amount_refunded",
            "amount_remaining",
        ]
        read_only_fields = fields

    def get_subscription_id(self, obj) -> str | None:
        return str(obj.subscription_id) if obj.subscription_id else None

    @extend_schema_field(InvoiceLineSerializer(many=True))
    def get_lines(self, obj) -> list[dict]:
        return [bill_line_data(line, obj.currency) for line in obj.lines.all()]

    def get_stripe_payment_intent_id(self, obj) -> str | None:
        return obj.stripe_payment_intent_id or None


class InstantFormField(forms.Field):
    """A form field for filters: an ISO timestamp or a date, as aware UTC."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            return parse_instant(value)
        except Exception:  # noqa: BLE001 - parse_instant raises DRF's ValidationError
            raise forms.ValidationError("Expected an ISO 8601 timestamp or date.", code="invalid_datetime") from None


class InstantFilter(filters.Filter):
    field_class = InstantFormField


class InvoiceFilter(filters.FilterSet):
    """`?status=`, `?from=` and `?to=` (half-open, on period_start)."""

    status = filters.ChoiceFilter(choices=Invoice.Status.choices)

    class Meta:
        model = Invoice
        fields = ["status"]


# `from` is a Python keyword: declare the range filters by name.
InvoiceFilter.base_filters["from"] = InstantFilter(field_name="period_start", lookup_expr="gte")
InvoiceFilter.base_filters["to"] = InstantFilter(field_name="period_start", lookup_expr="lt")


class GenerateSerializer(serializers.Serializer):
    """Optional period to invoice (ISO timestamps or dates)."""

    period_start = serializers.CharField(required=False, help_text="ISO 8601 timestamp or date")
    period_end = serializers.CharField(required=False, help_text="ISO 8601 timestamp or date")

    def validate_period_start(self, value):
        return parse_instant(value)

    def validate_period_end(self, value):
        return parse_instant(value)


def _invoice_for_caller(request, invoice_id) -> Invoice:
    """Return the invoice if the caller may see it, else 404 (never revealing another tenant's)."""
    invoice = scope_to_caller(invoice_queryset().select_related("tenant"), request).filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound("Invoice not found.")
    return invoice


def _fresh(invoice: Invoice) -> dict:
    """Return the serialized invoice, re-read with its current lines."""
    return InvoiceSerializer(invoice_queryset().get(pk=invoice.pk)).data


class TenantInvoicesView(generics.ListCreateAPIView):
    """GET: the tenant's invoices (filters ?status=, ?from=, ?to=). POST: generate a draft (finance)."""

    allowed_roles = {"get": READ_ROLES, "post": FINANCE}
    serializer_class = InvoiceSerializer
    filterset_class = InvoiceFilter

    def get_queryset(self):
        return invoice_list(tenant_id=self.kwargs.get("tenant_id", ""))

    @extend_schema(
        request=GenerateSerializer,
        responses={201: InvoiceSerializer},
        description="Generate a draft for the most recent ended period without an invoice, or the given one.",
    )
    def post(self, request, tenant_id: str):
        body = GenerateSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        invoice = invoice_generate(
            tenant_id=tenant_id,
            period_start=body.validated_data.get("period_start"),
            period_end=body.validated_data.get("period_end"),
        )
        return Response(_fresh(invoice), status=status.HTTP_201_CREATED)


class InvoiceDetailView(APIView):
    """GET one invoice; DELETE a draft (finance; anything else is 409)."""

    allowed_roles = {"get": READ_ROLES, "delete": FINANCE}

    @extend_schema(responses={200: InvoiceSerializer})
    def get(self, request, invoice_id):
        return Response(InvoiceSerializer(_invoice_for_caller(request, invoice_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, invoice_id):
        invoice_delete_draft(invoice=_invoice_for_caller(request, invoice_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvoiceFinalizeView(APIView):
    """Finalize a draft: recompute, number, apply credits, queue the PDF (finance)."""

    allowed_roles = FINANCE

    @extend_schema(request=None, responses={200: InvoiceSerializer})
    def post(self, request, invoice_id):
        invoice = invoice_finalize(invoice=_invoice_for_caller(request, invoice_id))
        return Response(_fresh(invoice))


class InvoiceVoidView(APIView):
    """Void an open invoice: its credits are restored and its period reopens (finance)."""

    allowed_roles = FINANCE

    @extend_schema(request=None, responses={200: InvoiceSerializer})
    def post(self, request, invoice_id):
        invoice = invoice_void(invoice=_invoice_for_caller(request, invoice_id))
        return Response(_fresh(invoice))


class InvoicePdfView(PdfDownloadView):
    """Download the invoice PDF (stored at finalize; rendered now if missing; drafts always fresh)."""

    allowed_roles = READ_ROLES

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice PDF.")},
        parameters=[OpenApiParameter("invoice_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    def get(self, request, invoice_id):
        invoice = _invoice_for_caller(request, invoice_id)
        return self.pdf_response(invoice_pdf_bytes(invoice=invoice), f"{invoice.number or invoice.id}.pdf")


urlpatterns = [
    path("tenants/<str:tenant_id>/invoices", TenantInvoicesView.as_view(), name="tenant-invoices"),
    path("invoices/<uuid:invoice_id>", InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<uuid:invoice_id>/finalize", InvoiceFinalizeView.as_view(), name="invoice-finalize"),
    path("invoices/<uuid:invoice_id>/void", InvoiceVoidView.as_view(), name="invoice-void"),
    path("invoices/<uuid:invoice_id>/pdf", InvoicePdfView.as_view(), name="invoice-pdf"),
]
