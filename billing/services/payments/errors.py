"""Errors of the payments area, each with its stable code (contract section 11)."""

from rest_framework import status
from rest_framework.exceptions import APIException

from billing.stripe.services import InvoiceNotPayable, InvoicePaymentUnderway
from billing_project.errors import Conflict

__all__ = ["InvoiceNotPayable", "InvoicePaymentUnderway", "NoPaymentMethod", "PaymentFailed"]


class NoPaymentMethod(Conflict):
    default_code = "no_payment_method"
    default_detail = "The tenant has no default payment method to charge."


class PaymentFailed(APIException):
    """402: Stripe declined the charge; the attempt is recorded and the dunning schedule goes on."""

    status_code = status.HTTP_402_PAYMENT_REQUIRED
    default_code = "payment_failed"
    default_detail = "The payment was declined."
