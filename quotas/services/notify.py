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
from quotas.selectors.quotas import quota_checks

ANNOUNCED_AT_OR_ABOVE = {"warning": ["warning", "exceeded"], "exceeded": ["exceeded"]}


def quotas_record_crossings(*, tenant_id: str, metrics: set[str], now: datetime) -> int:
    """Record an event for each quota of `metrics` that newly reached warning or exceeded; return how many."""
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
