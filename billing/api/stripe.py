"""Stripe routes: Checkout and portal sessions, an invoice's PaymentIntent, and the webhook.

POST /stripe/checkout, POST /stripe/portal, POST /invoices/:invoiceId/payment-intent (finance, or a
tenant for its own tenant/invoice) and POST /stripe/webhook (no JWT: Stripe-Signature instead).
"""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Invoice, Tenant
from billing.stripe.services import checkout_session_for, invoice_payment_intent, portal_session_for
from billing.stripe.webhooks import webhook_receive
from billing_project.errors import NotFound, invalid
from billing_project.fields import TenantIdField
from billing_project.permissions import ensure_body_tenant_access, ensure_tenant_access, scope_to_caller

URL_FIELD = {"max_length": 2048}


class CheckoutRequestSerializer(serializers.Serializer):
    tenant_id = TenantIdField()
    mode = serializers.ChoiceField(choices=["setup", "payment"])
    invoice_id = serializers.UUIDField(required=False, allow_null=True)
    success_url = serializers.URLField(**URL_FIELD)
    cancel_url = serializers.URLField(**URL_FIELD)

    def validate(self, attrs):
        if attrs["mode"] == "payment" and not attrs.get("invoice_id"):
            raise invalid("invoice_id", "Payment mode needs the invoice to pay.", "required")
        if attrs["mode"] == "setup" and attrs.get("invoice_id"):
            raise invalid("invoice_id", "Only payment mode pays an invoice.", "invalid")
        return attrs


class CheckoutSessionSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()


class PortalRequestSerializer(serializers.Serializer):
    tenant_id = TenantIdField()
    return_url = serializers.URLField(**URL_FIELD)


class PortalSessionSerializer(serializers.Serializer):
    url = serializers.CharField()


class PaymentIntentSerializer(serializers.Serializer):
    """Amount in the currency's minor units, currency uppercase like everywhere in this API."""

    id = serializers.CharField()
    client_secret = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()

    def to_representation(self, intent):
        return {
            "id": intent.id,
            "client_secret": intent.client_secret,
            "amount": intent.amount,
            "currency": intent.currency.upper(),
            "status": intent.status,
        }


def _tenant_for(request, tenant_id: str) -> Tenant:
    """Return the body's tenant after checking the caller may act for it (created on first use)."""
    ensure_tenant_access(request, tenant_id)
    return Tenant.objects.get_or_create(id=tenant_id)[0]


def _invoice_for(request, invoice_id, tenant_id: str | None = None) -> Invoice:
    """Return the invoice the caller may see (another tenant's is simply not found)."""
    invoices = scope_to_caller(Invoice.objects.select_related("tenant"), request)
    if tenant_id is not None:
        invoices = invoices.filter(tenant_id=tenant_id)
    invoice = invoices.filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice {invoice_id}.")
    return invoice


class CheckoutView(APIView):
    """Create a Checkout Session: save a payment method (setup) or pay an open invoice (payment)."""

    allowed_roles = {"finance", "tenant"}
    schema_error_statuses = (404, 502)  # a tenant or invoice named in the body; payment_provider_error

    @extend_schema(request=CheckoutRequestSerializer, responses={201: CheckoutSessionSerializer})
    def post(self, request):
        ensure_body_tenant_access(request)
        body = CheckoutRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["mode"] == "payment":
            ensure_tenant_access(request, data["tenant_id"])
            invoice = _invoice_for(request, data["invoice_id"], data["tenant_id"])
            tenant = invoice.tenant
        else:
            invoice, tenant = None, _tenant_for(request, data["tenant_id"])
        session = checkout_session_for(
            tenant=tenant,
            mode=data["mode"],
            invoice=invoice,
            success_url=data["success_url"],
            cancel_url=data["cancel_url"],
        )
        return Response({"id": session.id, "url": session.url}, status=201)


class PortalView(APIView):
    """Create a Stripe customer-portal session for the tenant."""

    allowed_roles = {"finance", "tenant"}
    schema_error_statuses = (404, 502)  # a tenant or invoice named in the body; payment_provider_error

    @extend_schema(request=PortalRequestSerializer, responses={201: PortalSessionSerializer})
    def post(self, request):
        ensure_body_tenant_access(request)
        body = PortalRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tenant = _tenant_for(request, body.validated_data["tenant_id"])
        session = portal_session_for(tenant=tenant, return_url=body.validated_data["return_url"])
        return Response({"url": session.url}, status=201)


class InvoicePaymentIntentView(APIView):
    """Create (or return the live) PaymentIntent for an open invoice with an amount due."""

    allowed_roles = {"finance", "tenant"}
    schema_error_statuses = (404, 502)  # a tenant or invoice named in the body; payment_provider_error

    @extend_schema(request=None, responses={201: PaymentIntentSerializer})
    def post(self, request, invoice_id):
        intent = invoice_payment_intent(invoice=_invoice_for(request, invoice_id))
        return Response(PaymentIntentSerializer(intent).data, status=201)


class StripeWebhookView(APIView):
    """Receive a Stripe event: stored, verified against Stripe-Signature, then applied once."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        auth=[],
        request=OpenApiTypes.OBJECT,
        responses={
            200: inline_serializer(
                "StripeWebhookReceipt",
                {
                    "id": serializers.CharField(),
                    "type": serializers.CharField(),
                    "processed": serializers.BooleanField(),
                    "replay": serializers.BooleanField(),
                    "error": serializers.CharField(allow_null=True),
                },
            )
        },
    )
    def post(self, request):
        event = webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature"))
        return Response(
            {
                "id": event.event_id,
                "type": event.type,
                "processed": event.processed,
                "replay": event.replay,
                "error": event.error or None,
            }
        )


urlpatterns = [
    path("stripe/checkout", CheckoutView.as_view(), name="stripe-checkout"),
    path("stripe/portal", PortalView.as_view(), name="stripe-portal"),
    path("stripe/webhook", StripeWebhookView.as_view(), name="stripe-webhook"),
    path(
        "invoices/<uuid:invoice_id>/payment-intent", InvoicePaymentIntentView.as_view(), name="invoice-payment-intent"
    ),
]
