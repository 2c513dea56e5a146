"""Celery's side of the operators' view: task context in log lines, and multiprocess bookkeeping.

Connected from billing_project/celery.py. Imports nothing heavy at import time (prometheus_client
must not be imported before settings have set PROMETHEUS_MULTIPROC_DIR).
- Every task publish carries the current request id (header `request_id`), so the task's lines
  can be joined to the request that queued it.
- While a task runs, the log context holds its task id, task name, the ids it was given (tasks
  carry ids, not objects) and the request id that queued it; the context of a request that ran
  an eager task is restored afterwards.
- Celery keeps its hands off logging: LOGGING (text or JSON) applies in workers as in the web.
- A pool process that exits is marked dead for the multiprocess metrics; with WORKER_METRICS_PORT
  the worker's main process serves the metrics of its pool (a host without a web process).
"""

from __future__ import annotations

import logging.config
import os

from celery import signals

from billing_project.observability.logformat import log_context

MAX_ARGS = 20
MAX_ARG_CHARS = 200
_tokens: dict[str, object] = {}


def _ids(args, kwargs) -> list[str]:
    """Return the task's arguments as short strings (ids, lists of ids, timestamps)."""
    values = [*(args or ()), *(f"{k}={v}" for k, v in (kwargs or {}).items())]
    return [str(v)[:MAX_ARG_CHARS] for v in values[:MAX_ARGS]]


@signals.before_task_publish.connect(dispatch_uid="billing.observability.publish_request_id")
def _publish_request_id(headers=None, **kwargs) -> None:
    context = log_context.get() or {}
    if headers is not None and context.get("request_id"):
        headers.setdefault("request_id", context["request_id"])


@signals.task_prerun.connect(dispatch_uid="billing.observability.task_context")
def _task_context(task_id=None, task=None, args=None, kwargs=None, **extra) -> None:
    outer = log_context.get() or {}
    queued_by = _queued_by(task.request) if task is not None else None
    _tokens[task_id] = log_context.set(
        {
            "request_id": queued_by or outer.get("request_id"),
            "tenant_id": outer.get("tenant_id"),
            "task_id": task_id,
            "task_name": getattr(task, "name", None),
            "task_args": _ids(args, kwargs),
        }
    )


def _queued_by(request) -> str | None:
    """Return the request id the task was published with (a message header; a dict when run eagerly)."""
    return getattr(request, "request_id", None) or (getattr(request, "headers", None) or {}).get("request_id")


@signals.task_postrun.connect(dispatch_uid="billing.observability.task_context_end")
def _task_context_end(task_id=None, **extra) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        try:
            log_context.reset(token)
        except ValueError:  # set in another context (should not happen); just clear it
            log_context.set(None)


@signals.setup_logging.connect(dispatch_uid="billing.observability.worker_logging")
def _worker_logging(**kwargs) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect(dispatch_uid="billing.observability.worker_metrics")
def _worker_metrics(**kwargs) -> None:
    """With WORKER_METRICS_PORT set, serve this worker's (and its pool's) metrics from the main process."""
    from django.conf import settings

    if settings.WORKER_METRICS_PORT:
        from billing_project.observability.views import worker_metrics_serve

        worker_metrics_serve(addr=settings.WORKER_METRICS_ADDR, port=settings.WORKER_METRICS_PORT)


@signals.worker_process_shutdown.connect(dispatch_uid="billing.observability.mark_dead")
def _mark_process_dead(pid=None, **kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
