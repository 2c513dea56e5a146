"""Cost centers: create, list, get, update, (soft) delete; serializers, views and routes."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from billing_project.errors import NotFound, invalid, require_fields
from billing_project.fields import InstantField, MoneyField, TenantIdField
from billing_project.money import is_valid_currency, minor_unit, quantize
from billing_project.permissions import ensure_body_tenant_access, ensure_tenant_access, scope_to_caller
from costcenters.models import CostCenter
from costcenters.selectors.cost_centers import cost_center_list, cost_center_live
from costcenters.services.cost_centers import cost_center_create, cost_center_delete, cost_center_update

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
    """The body of POST /cost-centers and PUT /cost-centers/:id (PUT needs code and name; optional fields left
    out keep their value)."""

    tenant_id = TenantIdField()
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


class CostCenterCreateView(generics.GenericAPIView):
    """Create a cost center for the tenant named in the body."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = CostCenterSerializer

    @extend_schema(request=CostCenterWriteSerializer, responses={201: CostCenterSerializer})
    def post(self, request):
        ensure_body_tenant_access(request)
        body = CostCenterWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        ensure_tenant_access(request, data["tenant_id"])
        cost_center = cost_center_create(**data)
        return Response(CostCenterSerializer(cost_center).data, status=status.HTTP_201_CREATED)


class CostCenterListView(generics.ListAPIView):
    """List the tenant's live cost centers."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = CostCenterSerializer

    def get_queryset(self):
        return cost_center_list(tenant_id=self.kwargs.get("tenant_id", ""))


class CostCenterDetailView(generics.GenericAPIView):
    """Get, update or (soft) delete one live cost center."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = CostCenterSerializer

    def get_object(self):
        queryset = scope_to_caller(cost_center_live(), self.request)
        cost_center = queryset.filter(pk=self.kwargs["cost_center_id"]).first()
        if cost_center is None:
            raise NotFound("No such cost center.")
        return cost_center

    def get(self, request, cost_center_id):
        return Response(CostCenterSerializer(self.get_object()).data)

    @extend_schema(request=CostCenterWriteSerializer, responses={200: CostCenterSerializer})
    def put(self, request, cost_center_id):
        cost_center = self.get_object()
        require_fields(request.data, "code", "name")
        body = CostCenterWriteSerializer(instance=cost_center, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        tenant_id = data.pop("tenant_id", cost_center.tenant_id)
        if tenant_id != cost_center.tenant_id:
            raise invalid("tenant_id", "A cost center cannot move to another tenant.", "tenant_id_immutable")
        cost_center = cost_center_update(cost_center=cost_center, **data)
        return Response(CostCenterSerializer(cost_center).data)

    @extend_schema(responses={204: None})
    def delete(self, request, cost_center_id):
        cost_center_delete(cost_center=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("cost-centers", CostCenterCreateView.as_view(), name="cost-center-create"),
    path("cost-centers/tenants/<str:tenant_id>", CostCenterListView.as_view(), name="cost-center-list"),
    path("cost-centers/<uuid:cost_center_id>", CostCenterDetailView.as_view(), name="cost-center-detail"),
]
