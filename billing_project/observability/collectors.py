"""Gauges computed at scrape time from the database and the broker, never kept in process memory.

Each probe looks its model up lazily through django.apps and is skipped while the model (or the
field it needs) does not exist, so the collector works whichever features are installed. A probe
that fails (database or broker down) is reported as `billing_scrape_probe_up{probe} 0` instead
of failing the scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 0.5
# Every family the probes can yield (for the docs' dashboard and alert rules test).
FAMILIES = (
    "billing_dunning_queue_length",
    "billing_webhook_backlog",
    "billing_webhook_backlog_oldest_age_seconds",
    "billing_celery_queue_length",
    "billing_scrape_probe_up",
)


def _model(app_label: str | None, name: str, *fields: str):
    """Return the model called `name` (in `app_label`, or any app) that has `fields`, or None."""
    candidates = (
        [m for m in apps.get_models() if m.__name__ == name]
        if app_label is None
        else [m for m in apps.get_app_config(app_label).get_models() if m.__name__ == name]
        if app_label in apps.app_configs
        else []
    )
    for model in candidates:
        try:
            for f in fields:
                model._meta.get_field(f)
        except FieldDoesNotExist:
            continue
        return model
    return None


def dunning_queue() -> Iterator[GaugeMetricFamily]:
    """Yield the number of open invoices waiting for a payment retry."""
    invoice = _model("billing", "Invoice", "status", "next_payment_attempt")
    if invoice is None:
        return
    count = invoice.objects.filter(status="open", next_payment_attempt__isnull=False).count()
    yield GaugeMetricFamily(
        "billing_dunning_queue_length", "Open invoices with a payment retry scheduled.", value=count
    )


def webhook_backlog() -> Iterator[GaugeMetricFamily]:
    """Yield how many webhook deliveries are not delivered yet and the age of the oldest."""
    delivery = _model(None, "WebhookDelivery", "status", "created_at")
    if delivery is None:
        return
    pending = delivery.objects.filter(status="pending")
    count = pending.count()
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily("billing_webhook_backlog", "Webhook deliveries not delivered yet.", value=count)
    yield GaugeMetricFamily(
        "billing_webhook_backlog_oldest_age_seconds",
        "Age of the oldest webhook delivery not delivered yet (0 when none).",
        value=max(age, 0.0),
    )


def celery_queues() -> Iterator[GaugeMetricFamily]:
    """Yield the length of each Celery queue on a Redis broker (nothing for other or no brokers)."""
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or urlsplit(url).scheme not in ("redis", "rediss"):
        return
    import redis

    queues = sorted({getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"), *_routed_queues()})
    client = redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S)
    try:
        family = GaugeMetricFamily("billing_celery_queue_length", "Tasks waiting in a Celery queue.", labels=["queue"])
        for queue in queues:
            family.add_metric([queue], client.llen(queue))
        yield family
    finally:
        client.close()


def _routed_queues() -> set[str]:
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    return {r["queue"] for r in routes.values() if isinstance(r, dict) and r.get("queue")}


PROBES: dict[str, Callable[[], Iterator[GaugeMetricFamily]]] = {
    "dunning_queue": dunning_queue,
    "webhook_backlog": webhook_backlog,
    "celery_queues": celery_queues,
}


class ScrapeTimeCollector(Collector):
    """Runs every probe at scrape time; a failing probe is reported, not raised."""

    def collect(self):
        up = GaugeMetricFamily("billing_scrape_probe_up", "1 when the probe answered at this scrape.", labels=["probe"])
        for name, probe in PROBES.items():
            try:
                families = list(probe())
            except Exception:  # noqa: BLE001 - a down dependency must not fail the scrape
                logger.warning("metrics probe %s failed", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up
