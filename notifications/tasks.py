"""Celery tasks of the notifications app: thin, carrying ids, named after the service they call.

The services queue them through billing_project.dispatch (`job_queue("notifications.…")`), never
by importing this module. Queueing never fails or slows the caller: with a broker a task is sent
(a broker outage is logged; the periodic sweeper finds the work in the database later); without
one (eager mode) it runs in a background thread, so a slow receiver or mail server never delays a
request. Tests switch the thread off (NOTIFICATIONS_EAGER_IN_THREAD=0) to run the work inline.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import connections

from billing_project.dispatch import enqueue as dispatch_queue
from billing_project.dispatch import job_register
from notifications.services import deliveries, dispatch, emails, events

logger = logging.getLogger(__name__)
THREAD_PREFIX = "notify-"


@shared_task(name="notifications.tasks.events_dispatch", ignore_result=True)
def events_dispatch() -> int:
    """Fan out every unprocessed event into webhook deliveries and e-mails; return how many events.

    Also re-queues what is due (cheap: a partial index): without a broker there is no beat, and
    retries then go out with the next dispatch.
    """
    dispatched = dispatch.events_dispatch().events
    dispatch.work_sweep()
    return dispatched


@shared_task(name="notifications.tasks.notifications_sweep", ignore_result=True)
def notifications_sweep() -> int:
    """Dispatch what a lost enqueue left behind and re-queue due deliveries and e-mails."""
    dispatched = dispatch.events_dispatch().events
    return dispatched + sum(dispatch.work_sweep())


@shared_task(name="notifications.tasks.webhook_delivery_send", ignore_result=True)
def webhook_delivery_send(delivery_id: int) -> None:
    """Make one attempt of a webhook delivery (the service queues the next one)."""
    deliveries.webhook_delivery_send(delivery_id=delivery_id)


@shared_task(name="notifications.tasks.email_send", ignore_result=True)
def email_send(message_id: str) -> None:
    """Try to send one logged e-mail (the service queues the next try on an SMTP error)."""
    emails.email_send(message_id=message_id)


@shared_task(name="notifications.tasks.events_purge", ignore_result=True)
def events_purge() -> int:
    """Delete events past BILLING_EVENT_RETENTION_DAYS."""
    return events.events_purge()


def _run_in_thread(task, args: tuple) -> None:
    def run() -> None:
        try:
            task.apply(args=args)
        except Exception:
            logger.exception("background run of %s failed", task.name)
        finally:
            connections.close_all()

    threading.Thread(target=run, name=f"{THREAD_PREFIX}{task.name}", daemon=True).start()


def enqueue(task, *args: Any, countdown: float | None = None) -> None:
    """Queue `task` without ever raising: broker down → logged; eager → a background thread."""
    if task.app.conf.task_always_eager:
        if countdown:
            return  # eager mode cannot wait: the sweeper runs it once it is due
        # One background thread per dispatch: the sends it queues run in it, one after the other.
        in_background = threading.current_thread().name.startswith(THREAD_PREFIX)
        if getattr(settings, "NOTIFICATIONS_EAGER_IN_THREAD", True) and not in_background:
            _run_in_thread(task, args)
        else:
            task.apply(args=args)
        return
    dispatch_queue(task, *args, countdown=countdown)  # broker down: logged; the sweeper picks the work up


@job_register("notifications.events_dispatch")
def _queue_events_dispatch() -> None:
    enqueue(events_dispatch)


@job_register("notifications.webhook_delivery_send")
def _queue_webhook_delivery_send(*, delivery_id: int, countdown: float | None = None) -> None:
    enqueue(webhook_delivery_send, delivery_id, countdown=countdown)


@job_register("notifications.email_send")
def _queue_email_send(*, message_id: str, countdown: float | None = None) -> None:
    enqueue(email_send, message_id, countdown=countdown)
