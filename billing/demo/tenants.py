"""The demo's cast: a dozen tenants with their plans, usage profiles and stories, and the coupons and
cost centers they use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

ADMIN_USER, ADMIN_PASSWORD = "finance", "finance-demo-123"
TENANT_USER, TENANT_PASSWORD, TENANT_USER_TENANT = "acme-user", "acme-demo-123", "acme"
HISTORY_DAYS = 125  # the oldest subscription starts this many days before now
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class DemoTenant:
    """One demo tenant: its billing account, plan, usage profile and what happens to it."""

    id: str
    name: str
    address: str
    plan: str
    days_ago: int  # the subscription starts this many days before now, at 09:00 UTC
    utc_offset: int  # local business hours of its users, in hours from UTC
    api_peak: int  # API calls in a weekday peak hour at the start (before growth)
    users: int  # active user pool at the start
    storage_gb: float  # stored GB at the start
    storage_growth: float  # GB added per day
    jobs_peak: float  # jobs in a weekday peak hour
    resources: tuple[str, ...] = ("vm-api-1",)
    growth: float = 0.003  # traffic growth per day
    tax_rate: str = "0"
    coupon: str = ""  # redeemed when subscribing
    late_coupon: str = ""  # redeemed about two months ago
    story: str = ""  # "upgrade", "pause", "cancel", "overdue", "void" or "credits"
    cost_centers: dict[str, str] = field(default_factory=dict)  # resource -> cost center code

    @property
    def email(self) -> str:
        return f"billing@{self.id}.example"


DEMO_TENANTS: list[DemoTenant] = [
    DemoTenant(
        "acme",
        "Acme Corp",
        "100 Market Street\nSan Francisco, CA 94103\nUSA",
        "pro",
        125,
        -8,
        api_peak=4200,
        users=70,
        storage_gb=120,
        storage_growth=0.9,
        jobs_peak=3.0,
        resources=("vm-api-1", "vm-api-2", "vm-etl-1"),
        coupon="WELCOME20",
        cost_centers={"vm-api-1": "platform", "vm-api-2": "platform", "vm-etl-1": "data"},
    ),
    DemoTenant(
        "globex",
        "Globex Corporation",
        "1 Globex Plaza\nCypress Creek, OR 97401\nUSA",
        "business",
        122,
        -8,
        api_peak=16000,
        users=520,
        storage_gb=900,
        storage_growth=4.0,
        jobs_peak=6.0,
        resources=("vm-web-1", "vm-web-2", "vm-batch-1"),
        story="credits",
        cost_centers={"vm-web-1": "core", "vm-web-2": "core", "vm-batch-1": "analytics"},
    ),
    DemoTenant(
        "initech",
        "Initech",
        "4120 Freidrich Lane\nAustin, TX 78744\nUSA",
        "starter",
        118,
        -6,
        api_peak=700,
        users=12,
        storage_gb=8,
        storage_growth=0.05,
        jobs_peak=0.8,
        story="overdue",
        late_coupon="LAUNCH10",
    ),
    DemoTenant(
        "umbrella",
        "Umbrella Health",
        "545 S Raccoon Ave\nChicago, IL 60607\nUSA",
        "pro",
        116,
        -6,
        api_peak=5200,
        users=95,
        storage_gb=200,
        storage_growth=1.5,
        jobs_peak=2.5,
        resources=("vm-api-1", "vm-api-2"),
        growth=0.006,
        story="upgrade",
    ),
    DemoTenant(
        "hooli",
        "Hooli",
        "1401 N Shoreline Blvd\nMountain View, CA 94043\nUSA",
        "pro",
        6,
        -8,
        api_peak=1800,
        users=25,
        storage_gb=15,
        storage_growth=0.4,
        jobs_peak=1.0,
    ),
    DemoTenant(
        "stark",
        "Stark Industries",
        "10880 Malibu Point\nMalibu, CA 90265\nUSA",
        "pro-annual",
        110,
        -8,
        api_peak=2500,
        users=40,
        storage_gb=60,
        storage_growth=0.3,
        jobs_peak=0.0,
    ),
    DemoTenant(
        "wayne",
        "Wayne Enterprises",
        "1007 Mountain Drive\nGotham, NJ 07001\nUSA",
        "pro",
        100,
        -5,
        api_peak=3000,
        users=55,
        storage_gb=80,
        storage_growth=0.6,
        jobs_peak=2.0,
        resources=("vm-api-1", "vm-api-2"),
        coupon="WELCOME20",
    ),
    DemoTenant(
        "wonka",
        "Wonka Confectionery",
        "1 Chocolate Way\nLondon SE1 7PB\nUnited Kingdom",
        "starter",
        114,
        0,
        api_peak=900,
        users=10,
        storage_gb=5,
        storage_growth=0.04,
        jobs_peak=1.2,
        story="void",
    ),
    DemoTenant(
        "tyrell",
        "Tyrell Corp",
        "2019 Tyrell Tower\nLos Angeles, CA 90012\nUSA",
        "starter",
        120,
        -8,
        api_peak=600,
        users=8,
        storage_gb=4,
        storage_growth=0.02,
        jobs_peak=0.6,
        story="cancel",
    ),
    DemoTenant(
        "cyberdyne",
        "Cyberdyne Systems",
        "18144 El Camino Real\nSunnyvale, CA 94087\nUSA",
        "pro",
        112,
        -8,
        api_peak=2200,
        users=30,
        storage_gb=40,
        storage_growth=0.3,
        jobs_peak=1.5,
        story="pause",
    ),
    DemoTenant(
        "soylent",
        "Soylent Foods GmbH",
        "Friedrichstraße 68\n10117 Berlin\nGermany",
        "pro-eur",
        105,
        1,
        api_peak=2600,
        users=35,
        storage_gb=30,
        storage_growth=0.25,
        jobs_peak=0.0,
        tax_rate="0.19",
    ),
    DemoTenant(
        "aperture",
        "Aperture Science SARL",
        "12 Rue de la Paix\n75002 Paris\nFrance",
        "pro-eur",
        95,
        1,
        api_peak=3400,
        users=45,
        storage_gb=50,
        storage_growth=0.4,
        jobs_peak=0.0,
        tax_rate="0.2",
        resources=("vm-api-1", "bucket-media"),
    ),
]

COUPONS = [
    {
        "code": "WELCOME20",
        "name": "Welcome: 20 % off the first three months",
        "percent_off": Decimal("20"),
        "duration": "repeating",
        "duration_in_periods": 3,
        "max_redemptions": 100,
    },
    {
        "code": "LAUNCH10",
        "name": "Launch week: 10 USD off one invoice",
        "amount_off": Decimal("10.00"),
        "currency": "USD",
        "duration": "once",
        "max_redemptions": 50,
    },
]
COST_CENTER_DETAILS = {
    "platform": ("Platform engineering", Decimal("900.00"), "platform-lead"),
    "data": ("Data & analytics", Decimal("250.00"), "data-lead"),
    "core": ("Core product", Decimal("2500.00"), "cto"),
    "analytics": ("Analytics", Decimal("800.00"), "analytics-lead"),
}
