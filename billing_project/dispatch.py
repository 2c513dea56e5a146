"""Late-bound background jobs: a service asks for a job by name; the app's tasks module says how it runs.

Services never import tasks (tasks call services, so that would be an import cycle, and a service
would depend on Celery). Instead a tasks module registers a queueing function under a job name when
it is imported (each AppConfig.ready imports its tasks), and a service calls `job_queue(name, …)`.
Asking for a job nobody registered is a programming error and raises at once: a job is never dropped
silently.

`enqueue(task, …)` is the one way a message leaves for the broker after a commit: when the broker
cannot take it, the committed change still answers its 2xx and a warning is logged; the work is
late, never lost, because every caller queues from state that a periodic job or a re-run picks up
again (a missing PDF is rendered on demand, the invoice run invoices a cut period, …).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from kombu.exceptions import KombuError

logger = logging.getLogger(__name__)

# A short publish retry: a broker blip is ridden out, an outage costs the request well under a second.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.4}

F = TypeVar("F", bound=Callable[..., Any])

_queues: dict[str, Callable[..., Any]] = {}


def job_register(name: str) -> Callable[[F], F]:
    """Return a decorator registering its function as the way to queue the job `name`."""

    def decorator(fn: F) -> F:
        _queues[name] = fn
        return fn

    return decorator


def job_queue(name: str, /, **kwargs: Any) -> Any:
    """Return what the registered queueing function of job `name` returns, called with `kwargs`."""
    try:
        queue = _queues[name]
    except KeyError:
        raise LookupError(f"No queueing function registered for job {name!r}; is its tasks module imported?") from None
    return queue(**kwargs)


def enqueue(task: Any, *args: Any, countdown: float | None = None, **kwargs: Any) -> bool:
    """Return whether `task` was queued with `args`/`kwargs`; log a warning and return False when the
    broker cannot be reached (never raises for that: the caller's change is already committed)."""
    try:
        task.apply_async(args=args, kwargs=kwargs, countdown=countdown, retry=True, retry_policy=PUBLISH_RETRY)
    except (KombuError, OSError) as exc:
        logger.warning("could not queue %s%r (%s): it will be picked up again later", task.name, args or kwargs, exc)
        return False
    return True
