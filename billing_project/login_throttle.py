"""Login throttling for the admin and the token endpoint: N failures per (username, IP) lock both out.

Every failed `authenticate()` (Django's `user_login_failed` signal, sent by the admin login form and
by simplejwt's token serializer alike) counts against the pair (username, client IP) in the cache;
at `LOGIN_FAILURE_LIMIT` failures within `LOGIN_LOCKOUT_SECONDS` further attempts are refused with
429 and `Retry-After` until the window ends, even with the right password. A successful login
clears the count. With CACHE_URL (Redis) the count is shared by every worker.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpResponse


def _key(username: str, ip: str) -> str:
    digest = hashlib.sha256(f"{username.strip().lower()}\x00{ip}".encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def client_ip(request) -> str:
    """Return the caller's address as the server saw it (REMOTE_ADDR; the proxy sets it behind one)."""
    return (request.META.get("REMOTE_ADDR") or "unknown") if request is not None else "unknown"


def retry_after(username: str, ip: str) -> int:
    """Return the seconds until `username` may try again from `ip` (0 when not locked out)."""
    state = cache.get(_key(username, ip))
    if not state or state["count"] < settings.LOGIN_FAILURE_LIMIT:
        return 0
    return max(1, int(state["until"] - time.time()))


def record_failure(username: str, ip: str) -> None:
    """Count one failed login for (username, ip); the window restarts with each failure."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    state = cache.get(_key(username, ip)) or {"count": 0}
    state = {"count": state["count"] + 1, "until": time.time() + window}
    cache.set(_key(username, ip), state, timeout=window)


def reset(username: str, ip: str) -> None:
    cache.delete(_key(username, ip))


@receiver(user_login_failed)
def _on_login_failed(sender, credentials, request=None, **kwargs):
    record_failure(str(credentials.get("username", "")), client_ip(request))


@receiver(user_logged_in)
def _on_logged_in(sender, request, user, **kwargs):
    reset(user.get_username(), client_ip(request))


def locked_out_response(seconds: int) -> HttpResponse:
    """Return the admin's plain 429 page (the API answers in its error shape instead)."""
    response = HttpResponse(
        f"Too many failed logins. Try again in {seconds} seconds.", status=429, content_type="text/plain"
    )
    response["Retry-After"] = str(seconds)
    return response
