"""Alert evaluation (implemented by the real-time work; see issue 8).

`alerts_schedule_evaluation(tenant_id=…)` is called after usage for the tenant commits; it must be
cheap and coalesce bursts into one evaluation per tenant.
"""


def alerts_schedule_evaluation(*, tenant_id: str) -> None:
    """Queue one (coalesced) evaluation of the tenant's armed alerts."""
    return None
