"""Cost-center endpoints: POST /cost-centers, GET /cost-centers/tenants/:tenantId, GET|PUT|DELETE by id."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from billing_project.errors import NotFound, invalid
from billing_project.permissions import ensure_tenant_access, scope_to_caller
from costcenters.api.serializers import CostCenterSerializer, CostCenterWriteSerializer
from costcenters.selectors import cost_center_list, cost_center_live
from costcenters.services import cost_center_create, cost_center_delete, cost_center_update


class CostCenterCreateView(generics.GenericAPIView):
    """Create a cost center for the tenant named in the body."""

    allowed_roles = {"finance", "tenant"}
    serializer_class = CostCenterSerializer

    @extend_schema(request=CostCenterWriteSerializer, responses={201: CostCenterSerializer})
    def post(self, request):
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
