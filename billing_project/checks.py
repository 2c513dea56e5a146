"""Deployment checks (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

DEV_KEY_PREFIX = "dev-insecure-signing-key"


@register(Tags.security, deploy=True)
def jwt_signing_key_check(app_configs, **kwargs):
    """Return a warning when tokens would be signed with the built-in development key."""
    if settings.JWT_SIGNING_KEY.startswith(DEV_KEY_PREFIX) and not settings.JWT_VERIFYING_KEY:
        return [
            Warning(
                "JWT_SIGNING_KEY is the built-in development key: anyone can mint tokens.",
                hint="Set JWT_SIGNING_KEY to a long random secret (or JWT_VERIFYING_KEY for RS256).",
                id="billing.W001",
            )
        ]
    return []
