"""Subscription tasks: resume paused subscriptions whose `resume_at` has passed (beat, every minute)."""

from celery import shared_task
from django.utils import timezone

from billing_project.dispatch import enqueue
from billing_project.fields import parse_instant


@shared_task(name="billing.tasks.subscriptions_resume_due")
def subscriptions_resume_due() -> int:
    """Queue a roll-over for every paused subscription due to resume; return how many were queued.

    One that cannot be queued is still due, so the next run (every minute) queues it again."""
    from billing.selectors.subscriptions import subscriptions_resume_due_ids

    now = timezone.now()
    ids = subscriptions_resume_due_ids(at=now)
    return sum(enqueue(subscription_roll_period, str(subscription_id), now.isoformat()) for subscription_id in ids)


@shared_task(name="billing.tasks.subscription_roll_period")
def subscription_roll_period(subscription_id: str, at: str) -> str:
    """Apply everything due on one subscription up to `at` (resume, trial end, period boundary)."""
    from billing.services.subscriptions import subscription_roll_period as roll

    return roll(subscription_id=subscription_id, at=parse_instant(at)).status
