"""quota.warning and quota.exceeded events, recorded inside the ingest transaction that crossed the line.

Each quota remembers the highest status it has announced in its current window
(`notified_status`, `notified_period_start`). After an ingest writes its events, the quotas of the
touched metrics are measured over the window containing now; a quota whose status rose above what
it announced is moved up with a conditional UPDATE, and only the ingest whose UPDATE changed the
row records the event: concurrent ingests announce each crossing once. A new window starts from
nothing again; changing a quota's limit resets what it announced.
"""

from __future__ import annotations

from datetime import datetime

from notifications.services.events import event_record
from quotas.models import Quota
from quotas.selectors.quotas import live_subscription, quota_checks, quota_list, quota_window

ANNOUNCED_AT_OR_ABOVE = {"warning": ["warning", "exceeded"], "exceeded": ["exceeded"]}


def _may_cross(*, tenant_id: str, metrics: set[str], now: datetime) -> bool:
    """Return whether a quota of `metrics` has not yet announced `exceeded` in its current window.

    Cheap (no usage read): once every quota has announced `exceeded`, there is nothing left to
    announce until the next window, and the ingest skips the measurement.
    """
    quotas = list(quota_list(tenant_id=tenant_id).filter(metric_id__in=metrics))
    subscription = None
    if any(q.period == Quota.Period.BILLING_PERIOD for q in quotas):
        subscription = live_subscription(tenant_id=tenant_id)
    for quota in quotas:
        start, _ = quota_window(period=quota.period, at=now, subscription=subscription)
        if quota.notified_status != "exceeded" or quota.notified_period_start != start:
            return True
    return False


def quotas_record_crossings(*, tenant_id: str, metrics: set[str], now: datetime) -> int:
    """Record an event for each quota of `metrics` that newly reached warning or exceeded; return how many."""
    if not _may_cross(tenant_id=tenant_id, metrics=metrics, now=now):
        return 0
    recorded = 0
    for check in quota_checks(tenant_id=tenant_id, now=now):
        if check.quota.metric_id not in metrics or check.status not in ANNOUNCED_AT_OR_ABOVE:
            continue
        moved = (
            Quota.objects.filter(pk=check.quota.pk)
            .exclude(notified_period_start=check.period_start, notified_status__in=ANNOUNCED_AT_OR_ABOVE[check.status])
            .update(notified_status=check.status, notified_period_start=check.period_start)
        )
        if moved:
            event_record(type=f"quota.{check.status}", tenant_id=tenant_id, obj=check)
            recorded += 1
    return recorded
