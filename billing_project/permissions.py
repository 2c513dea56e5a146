"""The permission layer: each view declares the roles that may call it; tenant scoping is automatic.

A view sets `allowed_roles = {"finance", "tenant"}` (or a dict action/method -> roles). A URL with a
`tenant_id` kwarg is checked against the caller: a tenant token on another tenant's path is 403.
Objects reached by id are scoped with `scope_to_caller(queryset, request)`, so another tenant's
object is simply not found (404).
"""

from __future__ import annotations

from rest_framework import exceptions, permissions

ALL_ROLES = frozenset({"finance", "tenant", "service"})


class Forbidden(exceptions.PermissionDenied):
    default_detail = "You do not have permission to perform this action."
    default_code = "permission_denied"


def roles_for(view, request) -> frozenset:
    """Return the roles allowed to call `view` for this request."""
    roles = getattr(view, "allowed_roles", None)
    if roles is None:
        return frozenset({"finance"})
    if isinstance(roles, dict):
        key = getattr(view, "action", None) or request.method.lower()
        roles = roles.get(key, roles.get(request.method.lower(), roles.get("default", ())))
    return frozenset(roles)


class RolePermission(permissions.BasePermission):
    """Allow a call when the caller's role is allowed and any path tenant is theirs."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        if getattr(user, "role", None) not in roles_for(view, request):
            raise Forbidden(f"The {getattr(user, 'role', 'unknown')} role may not call this endpoint.")
        tenant_id = view.kwargs.get("tenant_id") if hasattr(view, "kwargs") else None
        if tenant_id is not None:
            ensure_tenant_access(request, tenant_id)
        return True


def ensure_tenant_access(request, tenant_id: str) -> None:
    """Raise 403 unless the caller may touch `tenant_id`."""
    if not request.user.can_access_tenant(str(tenant_id)):
        raise Forbidden("This token may not access another tenant.")


def scope_to_caller(queryset, request, field: str = "tenant_id"):
    """Return `queryset` limited to what the caller may see (tenants see only their own)."""
    user = request.user
    if getattr(user, "role", None) == "tenant":
        return queryset.filter(**{field: user.tenant_id})
    return queryset


def require_role(request, *roles: str, detail: str | None = None) -> None:
    """Raise 403 unless the caller has one of `roles` (for rules finer than the endpoint)."""
    if request.user.role not in roles:
        raise Forbidden(detail or f"Only {', '.join(roles)} may do this.")


def ensure_body_tenant_access(request) -> None:
    """Raise 403 when the body names a tenant the caller may not touch: checked BEFORE the body is
    validated, so a foreign tenant always gets 403 whatever else is wrong with the body."""
    data = request.data
    tenant_id = data.get("tenant_id") if isinstance(data, dict) else None
    if tenant_id is not None:
        ensure_tenant_access(request, str(tenant_id))


class DocsAccess(permissions.BasePermission):
    """/api/schema and /api/docs behind auth (API_DOCS_REQUIRE_AUTH): any valid token, or a staff session."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        return bool(getattr(user, "role", None) or getattr(user, "is_staff", False))
