"""`Idempotency-Key` for every POST (contract section 1).

The key row is inserted in the same transaction as the request's effect: a concurrent request with
the same key blocks on the unique index until the first commits, then replays its stored answer.
Same caller (`sub`), same path, same body within 24 h → the first response again (same status and
body, no second effect); same key with another body → 409. A 5xx is rolled back so a retry can run.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone

from billing_project.errors import error_response

KEY_TTL = timedelta(hours=24)


def _caller_sub(request) -> str | None:
    """Return the verified `sub` of the bearer token, or None when there is no valid token."""
    header = request.headers.get("Authorization", "")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return "anonymous" if not header else None
    from billing_project.auth import principal_from_token

    try:
        return principal_from_token(parts[1]).sub
    except Exception:  # noqa: BLE001 - the view itself answers 401
        return None


class IdempotencyMiddleware:
    """Replay or refuse repeated POSTs that carry the same Idempotency-Key."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > 255:
            return error_response(400, "invalid", "Idempotency-Key is at most 255 characters.", "Idempotency-Key")
        sub = _caller_sub(request)
        if sub is None:
            return self.get_response(request)
        from billing.models import IdempotencyKey

        digest = hashlib.sha256(request.body).hexdigest()
        now = timezone.now()
        with transaction.atomic():
            IdempotencyKey.objects.filter(sub=sub, key=key, path=request.path, created_at__lt=now - KEY_TTL).delete()
            with connection.cursor() as cur:
                cur.execute(
                    f"INSERT INTO {IdempotencyKey._meta.db_table} "
                    "(sub, key, path, request_hash, status_code, response_body, content_type, created_at) "
                    "VALUES (%s, %s, %s, %s, 0, '', '', %s) ON CONFLICT (sub, key, path) DO NOTHING "
                    "RETURNING id",
                    [sub, key, request.path, digest, now],
                )
                row = cur.fetchone()
            if row is None:
                existing = IdempotencyKey.objects.get(sub=sub, key=key, path=request.path)
                if existing.request_hash != digest:
                    return error_response(
                        409,
                        "idempotency_key_reused",
                        "This Idempotency-Key was already used with a different request body.",
                        "Idempotency-Key",
                    )
                replay = HttpResponse(
                    bytes(existing.response_body),
                    status=existing.status_code,
                    content_type=existing.content_type or "application/json",
                )
                replay["Idempotent-Replayed"] = "true"
                return replay
            response = self.get_response(request)
            if response.status_code >= 500 or getattr(response, "streaming", False):
                transaction.set_rollback(True)
                return response
            IdempotencyKey.objects.filter(pk=row[0]).update(
                status_code=response.status_code,
                response_body=response.content,
                content_type=response.get("Content-Type", "application/json"),
            )
            return response
