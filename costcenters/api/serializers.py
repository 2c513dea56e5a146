"""Cost center in and out (contract section 8)."""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers

from billing.models.tenant import TENANT_ID_VALIDATOR
from billing_project.errors import invalid
from billing_project.fields import InstantField, MoneyField
from billing_project.money import is_valid_currency, minor_unit, quantize
from costcenters.models import CostCenter

CODE_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_.:-]{1,64}$", "1–64 characters of [A-Za-z0-9_.:-].")


class CostCenterSerializer(serializers.ModelSerializer):
    """A cost center as the API shows it."""

    tenant_id = serializers.CharField(read_only=True)
    budget = MoneyField(allow_null=True)
    owner_email = serializers.SerializerMethodField()
    created_at = InstantField(read_only=True)
    updated_at = InstantField(read_only=True)

    class Meta:
        model = CostCenter
        fields = [
            "id",
            "tenant_id",
            "code",
            "name",
            "description",
            "budget",
            "currency",
            "owner_email",
            "created_at",
            "updated_at",
        ]

    def get_owner_email(self, obj) -> str | None:
        return obj.owner_email or None


class CostCenterWriteSerializer(serializers.Serializer):
    """The body of POST /cost-centers and PUT /cost-centers/:id (PUT may omit what it keeps)."""

    tenant_id = serializers.CharField(max_length=64, validators=[TENANT_ID_VALIDATOR])
    code = serializers.CharField(max_length=64, validators=[CODE_VALIDATOR])
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    budget = serializers.DecimalField(
        max_digits=20, decimal_places=4, min_value=0, required=False, allow_null=True, default=None
    )
    currency = serializers.CharField(required=False, default="USD")
    owner_email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, default="")

    def validate_currency(self, value: str) -> str:
        value = value.upper()
        if not is_valid_currency(value):
            raise serializers.ValidationError(f"'{value}' is not an ISO 4217 currency code.", code="invalid_currency")
        return value

    def validate_owner_email(self, value):
        return value or ""

    def validate(self, attrs):
        budget = attrs.get("budget")
        currency = attrs.get("currency") or (self.instance.currency if self.instance else "USD")
        if budget is not None and budget != quantize(budget, currency):
            raise invalid("budget", f"At most {minor_unit(currency)} decimal places in {currency}.", "invalid_budget")
        return attrs
