"""Stateless JWT authentication with the contract's roles (`finance`, `tenant`, `service`).

A token is verified by signature and expiry alone: no database look-up per request. The caller
becomes a `Principal` carrying `sub`, `role` and (for tenants) `tenant_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError

ROLES = ("finance", "tenant", "service")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, built from the token's claims."""

    sub: str
    role: str
    tenant_id: str | None = None

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_active = True

    @property
    def pk(self) -> str:
        """Return the caller id (DRF throttles look for `pk`)."""
        return self.sub

    @property
    def is_finance(self) -> bool:
        """Return whether the caller is finance staff."""
        return self.role == "finance"

    def can_access_tenant(self, tenant_id: str) -> bool:
        """Return whether this caller may touch `tenant_id` at all."""
        if self.role == "tenant":
            return self.tenant_id == tenant_id
        return True


_backend: TokenBackend | None = None


def token_backend() -> TokenBackend:
    """Return the process-wide token backend (HS256 or RS256 per settings)."""
    global _backend
    if _backend is None:
        jwt = settings.SIMPLE_JWT
        _backend = TokenBackend(
            jwt["ALGORITHM"],
            signing_key=jwt["SIGNING_KEY"],
            verifying_key=jwt["VERIFYING_KEY"],
            leeway=jwt.get("LEEWAY", 0),
        )
    return _backend


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "The token is invalid or expired."
    default_code = "token_not_valid"


def principal_from_token(raw: str) -> Principal:
    """Return the Principal for a raw JWT, raising InvalidToken if it does not verify."""
    try:
        claims = token_backend().decode(raw, verify=True)
    except TokenBackendError as exc:
        raise InvalidToken(str(exc)) from None
    if "exp" not in claims:
        raise InvalidToken("The token has no expiry (exp).")
    for claim in ("exp", "iat", "nbf"):
        # RFC 7519 NumericDate: a number. PyJWT would coerce the string "9999999999" and accept it.
        if claim in claims and (isinstance(claims[claim], bool) or not isinstance(claims[claim], int | float)):
            raise InvalidToken(f"The token's {claim} is not a NumericDate (a number of seconds).")
    if claims.get("token_type") not in (None, "access"):
        raise InvalidToken("Only access tokens are accepted here.")
    sub, role = claims.get("sub"), claims.get("role")
    if sub in (None, "") or role not in ROLES:
        raise InvalidToken("The token lacks a valid sub or role claim.")
    tenant_id = claims.get("tenant_id")
    if role == "tenant" and not tenant_id:
        raise InvalidToken("A tenant token must carry tenant_id.")
    return Principal(sub=str(sub), role=role, tenant_id=str(tenant_id) if tenant_id else None)


class JWTAuthentication(authentication.BaseAuthentication):
    """Authenticate `Authorization: Bearer <JWT>` without touching the database."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise InvalidToken("Authorization header must be 'Bearer <token>'.")
        principal = principal_from_token(header[1].decode("latin-1"))
        return principal, header[1]

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def issue_token(*, sub: str, role: str, tenant_id: str | None = None, ttl_seconds: int = 3600) -> str:
    """Return a signed access token with the contract's claims (for scripts and tests)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "tenant" and not tenant_id:
        raise ValueError("a tenant token needs tenant_id")
    now = timezone.now()
    payload = {
        "sub": sub,
        "role": role,
        "token_type": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    if tenant_id:
        payload["tenant_id"] = tenant_id
    return token_backend().encode(payload)
