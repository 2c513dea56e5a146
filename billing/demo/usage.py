"""The demo's usage: an hour of events per tenant with a business-hours shape, weekday peaks, weekend
dips and a growth trend, the same on every run (seeded by tenant and hour), fed through the real ingest."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.demo.tenants import HOUR, DemoTenant
from billing.services.usage import MAX_BATCH, usage_ingest


def _day_shape(local_hour: int) -> float:
    """Return the share of peak traffic at a local hour: low at night, a business-hours hump."""
    return 0.12 + 0.88 * math.exp(-(((local_hour - 14) / 4.2) ** 2))


WEEKDAY_FACTOR = (1.0, 1.06, 1.08, 1.03, 0.92, 0.42, 0.33)  # Monday … Sunday


def _poisson(rng: random.Random, lam: float) -> int:
    """Return a Poisson(lam) draw (Knuth; lam is small here)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def hour_events(spec: DemoTenant, started_at: datetime, hour: datetime) -> list[dict]:
    """Return the usage events of `spec` in the hour starting at `hour` (the same on every call)."""
    rng = random.Random(f"{spec.id}:{hour.isoformat()}")
    days = (hour - started_at).total_seconds() / 86400
    local = hour + timedelta(hours=spec.utc_offset)
    level = _day_shape(local.hour) * WEEKDAY_FACTOR[local.weekday()] * (1 + spec.growth) ** days
    stamp = hour.strftime("%Y%m%d%H")
    events = []

    def at(minute_seconds: int) -> str:
        return (hour + timedelta(seconds=minute_seconds)).isoformat()

    weights = [1.0 / (i + 1) for i in range(len(spec.resources))]
    total_weight = sum(weights)
    calls = spec.api_peak * level * rng.lognormvariate(0, 0.12)
    for i, resource in enumerate(spec.resources):
        event = {
            "event_id": f"demo-{spec.id}-api-{stamp}-{i}",
            "metric": "api_calls",
            "quantity": int(calls * weights[i] / total_weight),
            "timestamp": at(rng.randrange(3600)),
            "resource_id": resource,
        }
        if resource in spec.cost_centers:
            event["cost_center"] = spec.cost_centers[resource]
        events.append(event)
    pool = max(1, int(spec.users * (1 + spec.growth) ** days))
    for k in range(_poisson(rng, min(10.0, 1 + pool / 40) * level)):
        user = int(pool * rng.random() ** 1.6)  # a few heavy users, a long tail
        events.append(
            {
                "event_id": f"demo-{spec.id}-users-{stamp}-{k}",
                "metric": "active_users",
                "timestamp": at(rng.randrange(3600)),
                "properties": {"user_id": f"u{user:04d}"},
            }
        )
    for k in range(_poisson(rng, spec.jobs_peak * level)):
        resource = spec.resources[-1]
        event = {
            "event_id": f"demo-{spec.id}-jobs-{stamp}-{k}",
            "metric": "jobs",
            "timestamp": at(rng.randrange(3600)),
            "resource_id": resource,
        }
        if resource in spec.cost_centers:
            event["cost_center"] = spec.cost_centers[resource]
        events.append(event)
    if hour.hour % 6 == 0:
        gb = spec.storage_gb + spec.storage_growth * days + rng.uniform(-0.3, 0.3) * spec.storage_growth
        events.append(
            {
                "event_id": f"demo-{spec.id}-storage-{stamp}",
                "metric": "storage_gb",
                "quantity": f"{max(gb, 0.1):.2f}",
                "timestamp": at(rng.randrange(600)),
            }
        )
    return events


@dataclass
class Feed:
    """Where one tenant's usage stands: the next hour to send and the hour it stops (exclusive)."""

    spec: DemoTenant
    started_at: datetime
    next_hour: datetime
    stop: datetime | None = None
    events: int = 0

    def ingest_until(self, until: datetime) -> None:
        """Ingest every event of the whole hours before `until` not sent yet (clock at `until`)."""
        end = until if self.stop is None else min(until, self.stop)
        batch: list[dict] = []
        while self.next_hour + HOUR <= end:
            batch.extend(hour_events(self.spec, self.started_at, self.next_hour))
            self.next_hour += HOUR
            if len(batch) >= MAX_BATCH - 50:
                self._send(batch, until)
                batch = []
        if batch:
            self._send(batch, until)

    def _send(self, events: list[dict], now: datetime) -> None:
        for i in range(0, len(events), MAX_BATCH):
            self.events += usage_ingest(tenant_id=self.spec.id, events=events[i : i + MAX_BATCH], now=now).accepted
