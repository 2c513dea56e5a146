"""Tenants (billing accounts) and the link from local users to the tenant they act for."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

TENANT_ID_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.-]{1,64}$", "1–64 characters of [A-Za-z0-9_.-].")


class Tenant(models.Model):
    """A platform tenant's billing account, created on first use.

    The default payment method's card details are a copy of what Stripe reported when it was set,
    for display; charges always name `default_payment_method_id` and Stripe decides.
    """

    class CollectionMethod(models.TextChoices):
        CHARGE_AUTOMATICALLY = "charge_automatically"
        SEND_INVOICE = "send_invoice"

    id = models.CharField(primary_key=True, max_length=64, validators=[TENANT_ID_VALIDATOR])
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    tax_rate = models.DecimalField(
        max_digits=7,
        decimal_places=6,
        default=0,
        help_text="Fraction applied to (subtotal − discount): 0.2 = 20 %.",
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    billing_email = models.EmailField(
        blank=True, default="", db_default="", help_text="Where invoices and payment notices go (empty: none)."
    )
    collection_method = models.CharField(
        max_length=24,
        choices=CollectionMethod.choices,
        default=CollectionMethod.CHARGE_AUTOMATICALLY,
        db_default=CollectionMethod.CHARGE_AUTOMATICALLY,
    )
    default_payment_method_id = models.CharField(max_length=255, blank=True, default="", db_default="")
    payment_method_type = models.CharField(max_length=32, blank=True, default="", db_default="")
    payment_method_brand = models.CharField(max_length=32, blank=True, default="", db_default="")
    payment_method_last4 = models.CharField(max_length=4, blank=True, default="", db_default="")
    payment_method_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    payment_method_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.id


class TenantUser(models.Model):
    """Links a local (non-staff) Django user to the tenant its tokens act for."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_link")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users")

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant_id}"
