"""Prometheus metrics of the service and the functions that record them.

Every other module records through the `*_recorded` functions below (never by touching a metric
object), so the names, labels and buckets live in one place and METRICS_ENABLED=0 turns every one
of them into a return. Labels are bounded sets of constants (an outcome, a reason code), never ids.

Multiprocess: with PROMETHEUS_MULTIPROC_DIR set before prometheus_client is imported (the Makefile
sets it for gunicorn and Celery), each process writes its samples to files there and /metrics adds
them up, so every gunicorn and Celery worker is counted. Gauges that describe the database (queue
lengths, backlog ages) are not kept here but computed at scrape time (see collectors.py).
"""

from __future__ import annotations

import functools
import time
from collections import Counter as Tally

from django.conf import settings
from prometheus_client import Counter, Histogram
from rest_framework import exceptions

NAMESPACE = "billing"

# --- usage ingest ---------------------------------------------------------------------------------
USAGE_EVENTS = Counter(
    "usage_events", "Usage events received, by outcome (accepted, duplicate).", ["outcome"], namespace=NAMESPACE
)
USAGE_EVENTS_REFUSED = Counter(
    "usage_events_refused",
    "Usage events refused (a refused batch refuses all its events), by reason code.",
    ["reason"],
    namespace=NAMESPACE,
)
USAGE_BATCH_SIZE = Histogram(
    "usage_batch_size",
    "Events per batch ingest call (single-event calls are counted by usage_ingest_duration_seconds{kind=single}).",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
    namespace=NAMESPACE,
)
USAGE_INGEST_SECONDS = Histogram(
    "usage_ingest_duration_seconds",
    "Time to validate and store one ingest call, by kind (single, batch).",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    namespace=NAMESPACE,
)
_ACCEPTED = USAGE_EVENTS.labels("accepted")
_DUPLICATE = USAGE_EVENTS.labels("duplicate")
_INGEST_KIND = {True: USAGE_INGEST_SECONDS.labels("batch"), False: USAGE_INGEST_SECONDS.labels("single")}

# --- invoices ---------------------------------------------------------------------------------------
INVOICES_GENERATED = Counter("invoices_generated", "Invoices generated (drafts created).", namespace=NAMESPACE)
INVOICES_FINALIZED = Counter("invoices_finalized", "Invoices finalized (left draft).", namespace=NAMESPACE)
INVOICE_RUN_FAILURES = Counter(
    "invoice_run_failures",
    "Subscriptions or drafts the invoice run failed on (retried by the next run).",
    namespace=NAMESPACE,
)
INVOICE_RUN_SECONDS = Histogram(
    "invoice_run_duration_seconds",
    "Duration of invoice-run work, by part (batch: one batch of subscriptions/drafts; run: a whole run).",
    ["part"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    namespace=NAMESPACE,
)

# --- payments, webhooks, e-mail, alerts ----------------------------------------------------------------
PAYMENT_ATTEMPTS = Counter(
    "payment_attempts",
    "Payment attempts, by outcome (succeeded, failed, requires_action, processing).",
    ["outcome"],
    namespace=NAMESPACE,
)
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries",
    "Outbound webhook delivery attempts, by kind (event, alert) and outcome (succeeded, retrying, failed = given up).",
    ["kind", "outcome"],
    namespace=NAMESPACE,
)
EMAILS = Counter("emails", "E-mails, by outcome (sent, failed).", ["outcome"], namespace=NAMESPACE)
ALERTS_TRIGGERED = Counter("alerts_triggered", "Usage/cost alerts triggered, by type.", ["type"], namespace=NAMESPACE)


def enabled() -> bool:
    """Return whether metrics are recorded (METRICS_ENABLED, on by default)."""
    return settings.METRICS_ENABLED


def ingest_recorded(*, batch: bool, size: int, accepted: int, duplicates: int, seconds: float) -> None:
    """Record one successful ingest call: its events by outcome, its duration and (a batch's) its size.

    A single-event call writes two samples (accepted or duplicate, duration): its size is always 1,
    and how many there were is the duration's count under kind="single".
    """
    if not settings.METRICS_ENABLED:
        return
    if accepted:
        _ACCEPTED.inc(accepted)
    if duplicates:
        _DUPLICATE.inc(duplicates)
    if batch:
        USAGE_BATCH_SIZE.observe(size)
    _INGEST_KIND[batch].observe(seconds)


def ingest_refused(*, reasons: dict[str, int]) -> None:
    """Record refused events: `reasons` maps a reason code to how many events it refused."""
    if not settings.METRICS_ENABLED:
        return
    for reason, count in reasons.items():
        USAGE_EVENTS_REFUSED.labels(reason).inc(count)


def observe_ingest(ingest):
    """Decorate the ingest service (keyword arguments `events`, `batch`) to record every call.

    A call that returns records its events as accepted/duplicate, its size and duration; one that
    raises records all its events as refused: each invalid event under its first error code, the
    valid events refused with it under "batch_refused", a whole-request error (batch size, quota)
    under its code.
    """

    @functools.wraps(ingest)
    def wrapper(**kwargs):
        if not settings.METRICS_ENABLED:
            return ingest(**kwargs)
        batch = kwargs.get("batch", True)
        started = time.perf_counter()
        try:
            result = ingest(**kwargs)
        except Exception as exc:
            events = kwargs.get("events")
            ingest_refused(reasons=refusal_reasons(exc, len(events) if isinstance(events, list) else 0, batch))
            raise
        ingest_recorded(
            batch=batch,
            size=result.accepted + result.duplicates,
            accepted=result.accepted,
            duplicates=result.duplicates,
            seconds=time.perf_counter() - started,
        )
        return result

    return wrapper


def refusal_reasons(exc: Exception, size: int, batch: bool) -> dict[str, int]:
    """Return {reason code: events refused} for an ingest of `size` events that raised `exc`."""
    if size <= 0:
        return {}
    if not isinstance(exc, exceptions.APIException):
        return {"server_error": size}
    if not isinstance(exc, exceptions.ValidationError) or not isinstance(exc.detail, dict):
        return {_first_code(exc.detail) or exc.default_code: size}
    per_event: dict[str, str] = {}
    whole = None
    for attr, details in exc.detail.items():
        parts = str(attr).split(".")
        code = _first_code(details) or "invalid"
        if batch and len(parts) >= 2 and parts[0] == "events" and parts[1].isdigit():
            per_event.setdefault(parts[1], code)
        elif whole is None:
            whole = code
    if whole is not None or not per_event:
        return {whole or "invalid": size}
    reasons = Tally(per_event.values())
    if size > len(per_event):
        reasons["batch_refused"] += size - len(per_event)
    return dict(reasons)


def _first_code(detail) -> str | None:
    """Return the code of the first ErrorDetail in `detail` (a detail, a list or a dict of them)."""
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), None)
    if isinstance(detail, list):
        detail = detail[0] if detail else None
    return getattr(detail, "code", None)


def invoices_generated_recorded(count: int = 1) -> None:
    """Record `count` invoices generated."""
    if settings.METRICS_ENABLED and count:
        INVOICES_GENERATED.inc(count)


def invoice_finalized_recorded() -> None:
    """Record one invoice finalized."""
    if settings.METRICS_ENABLED:
        INVOICES_FINALIZED.inc()


def invoice_run_recorded(*, part: str, failed: int, seconds: float) -> None:
    """Record a part of the invoice run ("batch" or "run"): how long it took and how many items failed."""
    if not settings.METRICS_ENABLED:
        return
    INVOICE_RUN_SECONDS.labels(part).observe(seconds)
    if failed:
        INVOICE_RUN_FAILURES.inc(failed)


def payment_attempt_recorded(outcome: str) -> None:
    """Record one payment attempt by its outcome: succeeded, failed, requires_action or processing."""
    if settings.METRICS_ENABLED:
        PAYMENT_ATTEMPTS.labels(outcome).inc()


def webhook_delivery_recorded(outcome: str, kind: str = "event") -> None:
    """Record one webhook delivery attempt: succeeded, retrying (will be retried) or failed (given up).

    `kind`: "event" for the event webhooks of section 13, "alert" for an alert's own webhook_url.
    """
    if settings.METRICS_ENABLED:
        WEBHOOK_DELIVERIES.labels(kind, outcome).inc()


def email_recorded(outcome: str) -> None:
    """Record one e-mail: sent or failed."""
    if settings.METRICS_ENABLED:
        EMAILS.labels(outcome).inc()


def alert_triggered_recorded(alert_type: str) -> None:
    """Record one alert triggered, by its type."""
    if settings.METRICS_ENABLED:
        ALERTS_TRIGGERED.labels(alert_type).inc()
