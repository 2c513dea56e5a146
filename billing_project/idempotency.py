"""`Idempotency-Key` for every POST (contract section 1).

The key row is inserted in the same transaction as the request's effect: a concurrent request with
the same key blocks on the unique index until the first commits, then replays its stored answer.
Same caller, same path, same body within 24 h → the first response again (same status and body, no
second effect); same key with another body → 409. A 5xx is rolled back so a retry can run.

The caller is the full principal (`sub`, `role`, `tenant_id`), and the view's authentication and
permission checks run BEFORE any look-up: a replay is only ever handed to a caller who may call the
endpoint now, and two tokens that merely share a `sub` never see each other's answers. This is why
the work happens in `process_view` (the view is known) and not in `__call__`.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import exceptions

from billing_project.errors import error_response

KEY_TTL = timedelta(hours=24)
ANONYMOUS = ("anonymous", "", "")


def authorized_caller(request, view_func, view_args, view_kwargs) -> tuple[str, str, str] | None:
    """Return (sub, role, tenant_id) when the DRF view would let this request in, else None.

    Runs the view's own authentication and permission checks on a throw-away instance; None means
    "not allowed" (the view itself then answers 401/403 and nothing is stored) or "not a DRF view".
    """
    cls = getattr(view_func, "cls", None)
    if cls is None:
        return None
    view = cls(**getattr(view_func, "initkwargs", {}))
    if hasattr(view_func, "actions"):  # a ViewSet route
        view.action_map = view_func.actions
    view.args, view.kwargs = view_args, view_kwargs
    drf_request = view.initialize_request(request, *view_args, **view_kwargs)
    view.request = drf_request
    try:
        view.perform_authentication(drf_request)
        view.check_permissions(drf_request)
    except exceptions.APIException:
        return None
    user = drf_request.user
    if user is None or not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    return (str(user.sub), str(user.role), str(user.tenant_id or ""))


class IdempotencyMiddleware:
    """Replay or refuse repeated POSTs that carry the same Idempotency-Key (after authorization)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return None
        if len(key) > 255:
            return error_response(400, "invalid", "Idempotency-Key is at most 255 characters.", "Idempotency-Key")
        caller = authorized_caller(request, view_func, view_args, view_kwargs)
        if caller is None:
            return None
        return _once(request, caller, key, lambda: view_func(request, *view_args, **view_kwargs))


def _once(request, caller: tuple[str, str, str], key: str, run):
    """Return the stored answer for (caller, key, path), or run the view once and store its answer."""
    IdempotencyKey = apps.get_model(settings.IDEMPOTENCY_KEY_MODEL)  # plumbing imports no app

    sub, role, tenant_id = caller
    scope = {"sub": sub, "role": role, "tenant_id": tenant_id, "key": key, "path": request.path}
    digest = hashlib.sha256(request.body).hexdigest()
    now = timezone.now()
    with transaction.atomic():
        IdempotencyKey.objects.filter(**scope, created_at__lt=now - KEY_TTL).delete()
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {IdempotencyKey._meta.db_table} (sub, role, tenant_id, key, path, request_hash, "
                "status_code, response_body, content_type, created_at) "
                "VALUES (%(sub)s, %(role)s, %(tenant_id)s, %(key)s, %(path)s, %(hash)s, 0, '', '', %(now)s) "
                "ON CONFLICT (sub, role, tenant_id, key, path) DO NOTHING RETURNING id",
                {**scope, "hash": digest, "now": now},
            )
            row = cur.fetchone()
        if row is None:
            return _replay(IdempotencyKey.objects.get(**scope), digest)
        response = run()
        if hasattr(response, "render") and callable(response.render):
            response = response.render()  # the stored answer is the rendered body
        if response.status_code >= 500 or getattr(response, "streaming", False):
            transaction.set_rollback(True)
            return response
        IdempotencyKey.objects.filter(pk=row[0]).update(
            status_code=response.status_code,
            response_body=response.content,
            content_type=response.get("Content-Type", "application/json"),
        )
        return response


def _replay(existing, digest: str) -> HttpResponse:
    """Return the stored answer again, or 409 when the key came with another body."""
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
