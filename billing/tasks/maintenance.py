"""Housekeeping tasks."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(name="billing.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    """Delete stored Idempotency-Key answers older than 24 h; return how many."""
    from billing.models import IdempotencyKey

    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - timedelta(hours=24)).delete()
    return deleted


@shared_task(name="billing.tasks.usage_partitions_ensure")
def usage_partitions_ensure() -> dict:
    """Create the usage events' partitions of this month and the next ones; return {created: rows moved}."""
    from billing.services.usage_partitions import usage_partitions_ensure as ensure

    return ensure()


@shared_task(name="billing.tasks.usage_archive")
def usage_archive() -> list[dict]:
    """Archive the closed months older than BILLING_RAW_RETENTION_MONTHS (none when unset)."""
    from dataclasses import asdict

    from billing.services.usage_archive import usage_archive_due

    return [asdict(result) for result in usage_archive_due()]
