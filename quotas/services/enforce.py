"""Hard-quota enforcement at ingestion.

`quotas_enforce_hard(tenant_id=…, touched={metric: [timestamps…]}, now=…)` is called by the usage
ingest INSIDE its transaction, after the new events and rollups are written. It locks the tenant's
hard quotas for those metrics (select_for_update ordered by pk), recomputes `used` for each window
the new events fall in, and raises billing_project.errors.QuotaExceeded (429) if any is above its
limit, which rolls the whole ingest back.

Why this is exact under concurrency: two ingests for the same tenant and metric serialize on the
quota row lock. The second one's usage read is a new statement (READ COMMITTED), so it sees the
first one's committed events plus its own uncommitted ones: check and write are one atomic step.
"""

from __future__ import annotations

from datetime import datetime

from billing.selectors.usage import usage_by_metric
from billing_project.errors import QuotaExceeded
from billing_project.fields import format_instant, plain_decimal
from quotas.models import Quota
from quotas.selectors.quotas import live_subscription, quota_window


def quotas_enforce_hard(*, tenant_id: str, touched: dict[str, list[datetime]], now: datetime) -> None:
    """Raise QuotaExceeded when the just-written usage takes a hard quota above its limit.

    Reaching the limit exactly is allowed. Must run inside the ingest's transaction.
    """
    if not touched:
        return
    quotas = list(
        Quota.objects.select_for_update(of=("self",))
        .select_related("metric")
        .filter(tenant_id=tenant_id, enforcement=Quota.Enforcement.HARD, metric_id__in=list(touched))
        .order_by("pk")
    )
    if not quotas:
        return
    subscription = None
    if any(q.period == Quota.Period.BILLING_PERIOD for q in quotas):
        subscription = live_subscription(tenant_id=tenant_id)
    for quota in quotas:
        windows = {
            quota_window(period=quota.period, at=at, subscription=subscription) for at in touched[quota.metric_id]
        }
        for start, end in sorted(windows):
            used = usage_by_metric(tenant_id=tenant_id, start=start, end=end, metrics=[quota.metric])[
                quota.metric_id
            ].quantity
            if used > quota.limit:
                raise QuotaExceeded(
                    f"Hard quota on {quota.metric_id} exceeded: limit {plain_decimal(quota.limit)} per "
                    f"{quota.period}, used {plain_decimal(used)} with this usage "
                    f"(window {format_instant(start)} to {format_instant(end)})."
                )
