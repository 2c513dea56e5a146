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


MIN_SECRET_LENGTH = 32


@register(Tags.security, deploy=True)
def secret_keys_separate_check(app_configs, **kwargs):
    """Return warnings when Django's secret is the JWT key, or either secret is short."""
    warnings = []
    if settings.SECRET_KEY == settings.JWT_SIGNING_KEY:
        warnings.append(
            Warning(
                "DJANGO_SECRET_KEY is the JWT signing key: a leak of one is a leak of both.",
                hint="Set DJANGO_SECRET_KEY to its own long random secret.",
                id="billing.W002",
            )
        )
    if not settings.JWT_VERIFYING_KEY and len(settings.JWT_SIGNING_KEY) < MIN_SECRET_LENGTH:
        warnings.append(
            Warning(
                f"JWT_SIGNING_KEY is shorter than {MIN_SECRET_LENGTH} characters: HS256 tokens can be brute-forced.",
                hint="Use a random secret of at least 32 characters (e.g. `openssl rand -hex 32`).",
                id="billing.W003",
            )
        )
    if len(settings.SECRET_KEY) < MIN_SECRET_LENGTH:
        warnings.append(
            Warning(
                f"DJANGO_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters.",
                hint="Use a random secret of at least 32 characters.",
                id="billing.W004",
            )
        )
    return warnings
