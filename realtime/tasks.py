"""Celery tasks of the real-time app: thin, carrying ids, named after the service they call.

The `job_register` functions at the bottom are how the alert services queue these tasks
(billing_project.dispatch): services never import tasks.
"""

from celery import shared_task
from django.utils import timezone

from billing_project.dispatch import enqueue, job_register
from realtime.services import alerts as services

DELIVERY_MAX_RETRIES = 6
EAGER_ATTEMPTS = 3


@shared_task(name="realtime.tasks.alerts_evaluate", ignore_result=True)
def alerts_evaluate(tenant_id: str) -> int:
    """Evaluate the tenant's alerts now; return how many triggered."""
    services.alerts_evaluation_started(tenant_id=tenant_id)
    return len(services.alerts_evaluate(tenant_id=tenant_id, now=timezone.now()))


@shared_task(name="realtime.tasks.alerts_evaluate_all", ignore_result=True)
def alerts_evaluate_all() -> int:
    """Queue an evaluation of every tenant with alerts (base accrues with time; periods roll over), and
    the webhook deliveries a broker outage left unqueued; return how many tenants."""
    from realtime.models import Alert

    tenant_ids = list(Alert.objects.order_by().values_list("tenant_id", flat=True).distinct())
    for tenant_id in tenant_ids:
        services.alerts_schedule_evaluation(tenant_id=tenant_id)
    services.alert_deliveries_requeue(now=timezone.now())
    return len(tenant_ids)


@shared_task(
    bind=True,
    name="realtime.tasks.alert_delivery_send",
    autoretry_for=(services.DeliveryFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=DELIVERY_MAX_RETRIES,
    ignore_result=True,
)
def alert_delivery_send(self, delivery_id: int) -> None:
    """POST one alert notice, retried with exponential backoff; the last attempt records and stops."""
    if self.request.is_eager:
        # Without a broker Celery cannot retry a task whose errors propagate: try a few times inline.
        for attempt in range(1, EAGER_ATTEMPTS + 1):
            try:
                services.alert_delivery_send(delivery_id=delivery_id, final_attempt=attempt == EAGER_ATTEMPTS)
                return
            except services.DeliveryFailed:
                continue
        return
    services.alert_delivery_send(delivery_id=delivery_id, final_attempt=self.request.retries >= self.max_retries)


@job_register(services.EVALUATE_JOB)
def _queue_evaluation(*, tenant_id: str, countdown: float) -> bool:
    return enqueue(alerts_evaluate, countdown=countdown, tenant_id=tenant_id)


@job_register(services.DELIVERY_JOB)
def _queue_delivery(*, delivery_id: int) -> bool:
    return enqueue(alert_delivery_send, delivery_id)
