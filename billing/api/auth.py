"""POST /api/v1/auth/token and /token/refresh for local Django users.

Staff users get the `finance` role; other users get `tenant` with the tenant linked to their account.
"""

from django.urls import path
from rest_framework import exceptions
from rest_framework.permissions import AllowAny
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from billing_project import login_throttle


class RoleTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token["sub"] = str(user.pk)
        if user.is_staff:
            token["role"] = "finance"
        else:
            link = getattr(user, "tenant_link", None)
            if link is None:
                raise exceptions.PermissionDenied("This user is not linked to a tenant.", code="no_tenant")
            token["role"] = "tenant"
            token["tenant_id"] = link.tenant_id
        return token


class TokenView(TokenObtainPairView):
    serializer_class = RoleTokenObtainPairSerializer
    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema_error_statuses = (401, 429)

    def post(self, request, *args, **kwargs):
        """Return the token pair, or 429 once this username has failed too often from this address."""
        username = str(request.data.get("username", "")) if isinstance(request.data, dict) else ""
        ip = login_throttle.client_ip(request)
        wait = login_throttle.retry_after(username, ip)
        if wait:
            raise exceptions.Throttled(wait=wait, detail="Too many failed logins for this user from this address.")
        response = super().post(request, *args, **kwargs)
        login_throttle.reset(username, ip)
        return response


class RefreshView(TokenRefreshView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema_error_statuses = (401,)


urlpatterns = [
    path("token", TokenView.as_view(), name="token"),
    path("token/refresh", RefreshView.as_view(), name="token-refresh"),
]
