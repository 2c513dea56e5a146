"""Credit notes (contract section 12): create (finance), list per invoice and per tenant, get, PDF.

Tenants read their own; another tenant's credit note or invoice reached by id is 404, another
tenant's path is 403.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.invoices import _invoice_for_caller
from billing.models import CreditNote
from billing.pdf.credit_note import render_credit_note_pdf
from billing.selectors.payments import credit_notes_of_invoice, credit_notes_of_tenant
from billing.services.credit_notes.create import credit_note_create
from billing.services.credit_notes.refund import credit_note_refund
from billing_project.errors import NotFound
from billing_project.fields import InstantField, MoneyField
from billing_project.permissions import scope_to_caller
from billing_project.renderers import PdfDownloadView

READ_ROLES = {"finance", "tenant"}


class CreditNoteSerializer(serializers.ModelSerializer):
    """The contract's credit note JSON."""

    invoice_id = serializers.UUIDField(read_only=True)
    tenant_id = serializers.CharField(read_only=True)
    subtotal = MoneyField()
    tax = MoneyField()
    total = MoneyField()
    applied_amount = MoneyField()
    refund_amount = MoneyField()
    credit_amount = MoneyField()
    refund_status = serializers.SerializerMethodField()
    stripe_refund_id = serializers.SerializerMethodField()
    created_at = InstantField(read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "invoice_id",
            "tenant_id",
            "currency",
            "reason",
            "memo",
            "subtotal",
            "tax",
            "total",
            "applied_amount",
            "refund_amount",
            "credit_amount",
            "refund_status",
            "stripe_refund_id",
            "created_at",
        ]
        read_only_fields = fields

    def get_refund_status(self, obj) -> str | None:
        return obj.refund_status or None

    def get_stripe_refund_id(self, obj) -> str | None:
        return obj.stripe_refund_id or None


class CreditNoteCreateSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=20, decimal_places=4, help_text="Tax-inclusive total to credit")
    reason = serializers.ChoiceField(choices=CreditNote.Reason.choices)
    memo = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    refund_amount = serializers.DecimalField(max_digits=20, decimal_places=4, required=False)


class InvoiceCreditNotesView(generics.ListCreateAPIView):
    """GET: the invoice's credit notes. POST: credit the invoice (finance)."""

    allowed_roles = {"get": READ_ROLES, "post": {"finance"}}
    serializer_class = CreditNoteSerializer

    def get_queryset(self):
        return credit_notes_of_invoice(invoice=_invoice_for_caller(self.request, self.kwargs["invoice_id"]))

    @extend_schema(request=CreditNoteCreateSerializer, responses={201: CreditNoteSerializer})
    def post(self, request, invoice_id):
        invoice = _invoice_for_caller(request, invoice_id)
        body = CreditNoteCreateSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        note = credit_note_create(invoice=invoice, **body.validated_data)
        if note.refund_amount > 0:
            note = credit_note_refund(credit_note_id=note.pk)
        return Response(CreditNoteSerializer(note).data, status=status.HTTP_201_CREATED)


class TenantCreditNotesView(generics.ListAPIView):
    """The tenant's credit notes, newest first."""

    allowed_roles = READ_ROLES
    serializer_class = CreditNoteSerializer

    def get_queryset(self):
        return credit_notes_of_tenant(tenant_id=self.kwargs["tenant_id"])


def _note_for_caller(request, credit_note_id) -> CreditNote:
    note = (
        scope_to_caller(CreditNote.objects.select_related("invoice__tenant"), request).filter(pk=credit_note_id).first()
    )
    if note is None:
        raise NotFound("Credit note not found.")
    return note


class CreditNoteDetailView(APIView):
    allowed_roles = READ_ROLES

    @extend_schema(responses={200: CreditNoteSerializer})
    def get(self, request, credit_note_id):
        return Response(CreditNoteSerializer(_note_for_caller(request, credit_note_id)).data)


class CreditNotePdfView(PdfDownloadView):
    """Download the credit note PDF (negotiates application/pdf like every PDF endpoint)."""

    allowed_roles = READ_ROLES

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The credit note PDF.")}
    )
    def get(self, request, credit_note_id):
        note = _note_for_caller(request, credit_note_id)
        return self.pdf_response(render_credit_note_pdf(note), f"{note.number}.pdf")


urlpatterns = [
    path("invoices/<uuid:invoice_id>/credit-notes", InvoiceCreditNotesView.as_view(), name="invoice-credit-notes"),
    path("tenants/<str:tenant_id>/credit-notes", TenantCreditNotesView.as_view(), name="tenant-credit-notes"),
    path("credit-notes/<uuid:credit_note_id>", CreditNoteDetailView.as_view(), name="credit-note-detail"),
    path("credit-notes/<uuid:credit_note_id>/pdf", CreditNotePdfView.as_view(), name="credit-note-pdf"),
]
