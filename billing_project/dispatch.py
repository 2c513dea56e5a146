"""Late-bound background jobs: a service asks for a job by name; the app's tasks module says how it runs.

Services never import tasks (tasks call services, so that would be an import cycle, and a service
would depend on Celery). Instead a tasks module registers a queueing function under a job name when
it is imported (each AppConfig.ready imports its tasks), and a service calls `job_queue(name, …)`.
Asking for a job nobody registered is a programming error and raises at once: a job is never dropped
silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

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
