"""Payments of an invoice (contract section 11): charge now, list the attempts, mark paid outside Stripe.

POST /invoices/:invoiceId/pay (finance, or the invoice's tenant), GET /invoices/:invoiceId/payments
(finance, the tenant), POST /invoices/:invoiceId/mark-paid (finance). Another tenant's invoice is 404.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.invoices import InvoiceSerializer, _fresh, _invoice_for_caller
from billing.models import PaymentAttempt
from billing.selectors.payments import payment_attempts_of
from billing.services.payments.collect import invoice_pay
from billing.services.payments.mark_paid import invoice_mark_paid
from billing_project.fields import InstantField, MoneyField

READ_ROLES = {"finance", "tenant"}


class PaymentAttemptSerializer(serializers.ModelSerializer):
    """The contract's payment attempt JSON."""

    invoice_id = serializers.UUIDField(read_only=True)
    amount = MoneyField()
    stripe_payment_intent_id = serializers.SerializerMethodField()
    failure_code = serializers.SerializerMethodField()
    failure_message = serializers.SerializerMethodField()
    created_at = InstantField(read_only=True)
    next_retry_at = InstantField(read_only=True)

    class Meta:
        model = PaymentAttempt
        fields = [
            "id",
            "invoice_id",
            "attempt",
            "status",
            "amount",
            "currency",
            "stripe_payment_intent_id",
            "failure_code",
            "failure_message",
            "created_at",
            "next_retry_at",
        ]
        read_only_fields = fields

    def get_stripe_payment_intent_id(self, obj) -> str | None:
        return obj.stripe_payment_intent_id or None

    def get_failure_code(self, obj) -> str | None:
        return obj.failure_code or None

    def get_failure_message(self, obj) -> str | None:
        return obj.failure_message or None


class MarkPaidSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=255)
    paid_at = InstantField(required=False)


class InvoicePayView(APIView):
    """Charge the tenant's default payment method now: 200 paid, 402 declined, 409 not possible."""

    allowed_roles = READ_ROLES

    @extend_schema(request=None, responses={200: InvoiceSerializer})
    def post(self, request, invoice_id):
        invoice = invoice_pay(invoice=_invoice_for_caller(request, invoice_id))
        return Response(_fresh(invoice))


class InvoicePaymentsView(generics.ListAPIView):
    """The invoice's payment attempts, oldest first."""

    allowed_roles = READ_ROLES
    serializer_class = PaymentAttemptSerializer

    def get_queryset(self):
        invoice = _invoice_for_caller(self.request, self.kwargs["invoice_id"])
        return payment_attempts_of(invoice=invoice)


class InvoiceMarkPaidView(APIView):
    """Record an open invoice as paid outside Stripe (a bank transfer), keeping the reference."""

    allowed_roles = {"finance"}

    @extend_schema(request=MarkPaidSerializer, responses={200: InvoiceSerializer})
    def post(self, request, invoice_id):
        invoice = _invoice_for_caller(request, invoice_id)
        body = MarkPaidSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        invoice = invoice_mark_paid(
            invoice=invoice, reference=body.validated_data["reference"], paid_at=body.validated_data.get("paid_at")
        )
        return Response(_fresh(invoice))


urlpatterns = [
    path("invoices/<uuid:invoice_id>/pay", InvoicePayView.as_view(), name="invoice-pay"),
    path("invoices/<uuid:invoice_id>/payments", InvoicePaymentsView.as_view(), name="invoice-payments"),
    path("invoices/<uuid:invoice_id>/mark-paid", InvoiceMarkPaidView.as_view(), name="invoice-mark-paid"),
]
