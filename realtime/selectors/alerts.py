"""Reads of alerts: a tenant's alerts and the measure each alert type watches."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet

from billing.models import Subscription
from billing.pricing import period_seconds
from billing.selectors.usage import usage_by_metric
from realtime.models import Alert
from realtime.selectors.cost import realtime_by_dimension, realtime_current

PERCENT_PLACES = Decimal("0.0001")


def alert_list(*, tenant_id: str, status: str | None = None) -> QuerySet:
    """Return the tenant's alerts, newest first, optionally of one status."""
    qs = Alert.objects.filter(tenant_id=tenant_id).select_related("cost_center")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def alert_exists_sql(*, tenant_param: str) -> str:
    """Return an SQL boolean expression: whether the tenant bound to `tenant_param` has any alert.

    The usage ingest reads this flag inside its one context query (no round trip of its own): only a
    tenant with alerts has them evaluated after new usage.
    """
    return f"EXISTS (SELECT 1 FROM {Alert._meta.db_table} WHERE tenant_id = {tenant_param})"


class AlertMeasures:
    """The measures of one tenant's current period, each computed at most once per evaluation."""

    def __init__(self, *, subscription: Subscription, now: datetime):
        self.subscription = subscription
        self.now = now
        self._current = None
        self._usage = None
        self._by_cost_center = None

    def value(self, alert: Alert) -> Decimal | None:
        """Return what `alert` watches now, or None when it cannot be measured (no budget, currency)."""
        if alert.type == Alert.Type.COST_THRESHOLD:
            return self.current().total
        if alert.type == Alert.Type.USAGE_THRESHOLD:
            if self._usage is None:
                self._usage = usage_by_metric(
                    tenant_id=self.subscription.tenant_id,
                    start=self.subscription.current_period_start,
                    end=min(self.now, self.subscription.current_period_end),
                    divisor_seconds=period_seconds(
                        self.subscription.current_period_start, self.subscription.current_period_end
                    ),
                )
            usage = self._usage.get(alert.metric_id)
            return usage.quantity if usage is not None else None
        cost_center = alert.cost_center
        if cost_center is None or not cost_center.budget or cost_center.currency != self.subscription.currency:
            return None
        if self._by_cost_center is None:
            self._by_cost_center = {}
            for part in realtime_by_dimension(subscription=self.subscription, now=self.now, dimension="cost_center"):
                if part.key is not None:
                    self._by_cost_center[part.key] = self._by_cost_center.get(part.key, Decimal(0)) + part.amount
        cost = self._by_cost_center.get(cost_center.code, Decimal(0))
        return (cost * 100 / cost_center.budget).quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)

    def current(self):
        if self._current is None:
            self._current = realtime_current(subscription=self.subscription, now=self.now)
        return self._current
