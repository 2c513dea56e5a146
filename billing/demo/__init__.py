"""Demo data for `seed_demo`: a dozen tenants with four months of history, replayed through the real services."""

from billing.demo.seed import demo_seed
from billing.demo.tenants import DEMO_TENANTS, DemoTenant
from billing.demo.usage import hour_events

__all__ = ["DEMO_TENANTS", "DemoTenant", "demo_seed", "hour_events"]
