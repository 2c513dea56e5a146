"""Optional error reporting to Sentry (SENTRY_DSN), with what must never leave the service scrubbed.

`before_send` walks the whole event (request headers and body, exception messages, local variables,
breadcrumbs, log messages) and replaces: values under sensitive keys (authorization, cookies,
tokens, secrets, passwords, signatures, card fields) and in `key=value` pairs inside strings; bearer
tokens, JWTs and Stripe keys inside any string; card numbers (13–19 digits passing the Luhn check,
spaces or dashes allowed); e-mail addresses.
"""

from __future__ import annotations

import re
from typing import Any

FILTERED = "[Filtered]"
SENSITIVE_KEY = re.compile(
    r"authorization|cookie|token|secret|passw|api[_-]?key|signature|session|csrf|"
    r"card|cvc|cvv|^pan$|exp_month|exp_year|iban|account_number",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_STRIPE_KEY = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9+/=]+")
_KEY_VALUE = re.compile(r"(?i)\b([\w-]*(?:token|secret|passw\w*|api[_-]?key|signature|sessionid|csrf\w*))=([^&\s;,]+)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def scrub_text(text: str) -> str:
    """Return `text` with tokens, keys, card numbers and e-mail addresses replaced."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {FILTERED}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}={FILTERED}", text)
    text = _JWT.sub(FILTERED, text)
    text = _STRIPE_KEY.sub(FILTERED, text)
    text = _EMAIL.sub("[email]", text)
    return _CARD.sub(_card, text)


def scrub(value: Any, depth: int = 0) -> Any:
    """Return a scrubbed copy of `value` (dicts, lists, tuples and strings, to a bounded depth)."""
    if depth > 20:
        return FILTERED
    if isinstance(value, dict):
        return {
            k: (
                FILTERED
                if isinstance(k, str) and SENSITIVE_KEY.search(k) and v not in (None, "")
                else scrub(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        # Sentry sends headers as [[name, value], …]: a sensitive name hides its value.
        if len(value) == 2 and isinstance(value[0], str) and SENSITIVE_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def before_send(event: dict, hint: dict | None = None) -> dict:
    """Return the event scrubbed (Sentry's before_send and before_send_transaction hook)."""
    return scrub(event)


def sentry_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> None:
    """Start the Sentry SDK with the Django and Celery integrations and the scrubber."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=lambda crumb, hint: scrub(crumb),
    )
