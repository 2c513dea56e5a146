"""Property: reading level metrics from the level rollup (whole hours) plus raw edges equals a brute-force
integral of the raw readings, exactly (before any rounding), for out-of-order readings and any window."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Metric, UsageEvent, UsageHourly, UsageLevel, UsageRollup
from billing.selectors.usage.levels import (
    counts_and_lasts,
    cumulative_integrals,
    event_count,
    last_reading,
    level_integrals_read,
)
from billing.services.usage import usage_ingest

from .test_rollups import cost_centers  # noqa: F401 (fixture)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = timedelta(microseconds=1)

readings = st.lists(
    st.tuples(
        st.integers(0, 30 * 3600 - 1).map(lambda s: s * 10**6) | st.integers(0, 30 * 3600 * 10**6 - 1),
        st.integers(0, 10**8).map(lambda n: Decimal(n).scaleb(-4)),
        st.sampled_from(["", "b1", "b2", "b3"]),
        st.sampled_from(["", "eng", "ops"]),
    ),
    max_size=40,
)
instant = st.integers(0, 31 * 3600 * 10**6).map(lambda us: T0 + us * US) | st.integers(0, 31).map(
    lambda h: T0 + timedelta(hours=h)
)


def brute(events, start, end):
    """Return ({(resource, cc): ∫ level dt over [start, end)}, {resource: (level, cc) at end}) step by step."""
    by_resource: dict[str, list] = {}
    for at, _pk, q, resource, cc in sorted(events, key=lambda e: (e[0], e[1])):
        by_resource.setdefault(resource, []).append((at, q, cc))
    slots: dict[tuple, Decimal] = {}
    levels = {}
    for resource, steps in by_resource.items():
        for i, (at, q, cc) in enumerate(steps):
            until = steps[i + 1][0] if i + 1 < len(steps) else end
            lo, hi = max(at, start), min(until, end)
            if hi > lo and q:
                slot = (resource, cc)
                slots[slot] = slots.get(slot, Decimal(0)) + q * Decimal((hi - lo) // US).scaleb(-6)
            if at < end:
                levels[resource] = (q, cc)
    return slots, levels


@pytest.fixture
def level_metric(catalog):
    Metric.objects.create(code="disk_gb", name="Disk", unit="GB", aggregation="latest")


def _store(events):
    for table in (UsageEvent, UsageLevel, UsageRollup, UsageHourly):
        table.objects.filter(tenant_id="acme").delete()
    batch = [
        {
            "event_id": f"e{i}",
            "metric": "storage_gb_month",
            "quantity": str(q),
            "timestamp": (T0 + us * US).isoformat(),
            "resource_id": resource,
            "cost_center": cc,
        }
        for i, (us, q, resource, cc) in enumerate(events)
    ]
    # in three batches, so later readings refold hours that already have rows
    for part in (batch[::3], batch[1::3], batch[2::3]):
        if part:
            usage_ingest(tenant_id="acme", events=part, now=T0 + timedelta(days=3))
    rows = UsageEvent.objects.filter(tenant_id="acme").values_list(
        "timestamp", "id", "quantity", "resource_id", "cost_center"
    )
    return list(rows)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=readings, a=instant, b=instant, cut_hours=st.lists(st.integers(0, 31), max_size=4))
def test_rollup_reads_equal_a_brute_force_integral(level_metric, cost_centers, events, a, b, cut_hours):  # noqa: F811
    start, end = min(a, b), max(a, b)
    if start == end:
        end += timedelta(minutes=7)
    stored = _store(events)
    want_slots, want_levels = brute(stored, start, end)
    with connection.cursor() as cur:
        read = level_integrals_read(cur, "acme", "storage_gb_month", start, end, "slot")
        assert read.slots == want_slots
        by_resource: dict = {}
        for (resource, _), value in want_slots.items():
            by_resource[(resource, "")] = by_resource.get((resource, ""), Decimal(0)) + value
        assert level_integrals_read(cur, "acme", "storage_gb_month", start, end, "resource").slots == by_resource
        total = sum(want_slots.values(), Decimal(0))
        got_total = level_integrals_read(cur, "acme", "storage_gb_month", start, end).slots
        assert got_total == ({("", ""): total} if total else {})
        assert {r: (lv.quantity, lv.key) for r, lv in read.levels_end.items()} == want_levels
        # timeline edges: on the hour inside the window (before, after or at its ends too)
        cuts = sorted({T0 + timedelta(hours=h) for h in cut_hours} | {start, end})
        got = cumulative_integrals(cur, "acme", "storage_gb_month", start, end, cuts)
        for cut, value in zip(cuts, got, strict=True):
            clipped = min(max(cut, start), end)
            assert value == sum(brute(stored, start, clipped)[0].values(), Decimal(0)), cut
        inside = sorted((e for e in stored if start <= e[0] < end), key=lambda e: (e[0], e[1]))
        last = last_reading(cur, "acme", "storage_gb_month", start, end)
        assert (last[:3] if last else None) == (inside[-1][:3] if inside else None)
        assert event_count(cur, "acme", "storage_gb_month", start, end) == len(inside)
        for group, key_of in (("hour", _hour), ("resource_id", lambda e: e[3]), ("cost_center", lambda e: e[4])):
            want: dict = {}
            for e in inside:
                want[key_of(e)] = (want.get(key_of(e), (0, None))[0] + 1, e[:3])
            found = counts_and_lasts(cur, "acme", "storage_gb_month", start, end, group)
            assert {k: (n, r[:3]) for k, (n, r) in found.items()} == want, group


def _hour(e):
    return e[0].replace(minute=0, second=0, microsecond=0)


def _charges(aggregation):
    """Return (the metric as an unfiltered charge: rollup reads, the same with a filter that matches
    nothing: the raw fold, whose charge-own part (key None) is what the unfiltered read must equal)."""
    from billing.pricing import ChargeFilter, ChargeSpec
    from billing.selectors.terms import PricedCharge

    spec = ChargeSpec("per_unit", unit_price=Decimal(1))
    plain = PricedCharge(metric="storage_gb_month", metric_name="s", aggregation=aggregation, field="", spec=spec)
    nothing = ChargeFilter(name="none", properties=(("zone", ("nowhere",)),), spec=spec)
    return plain, PricedCharge(**{**plain.__dict__, "filters": (nothing,)})


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=readings, a=instant, b=instant, aggregation=st.sampled_from(["weighted_sum", "latest"]))
def test_charge_reads_from_the_rollup_equal_the_raw_fold(level_metric, cost_centers, events, a, b, aggregation):  # noqa: F811
    from billing.selectors.usage import charge_quantities, line_quantities_by, line_series

    start, end = min(a, b), max(a, b) + timedelta(minutes=7)
    _store(events)
    plain, raw = _charges(aggregation)
    period_s = Decimal(31 * 86400)
    window = {"tenant_id": "acme", "start": start, "end": end, "period_s": period_s}
    project = {"project_to": end + timedelta(days=2)}
    got = charge_quantities(charges=[plain], **window, **project)["storage_gb_month"]
    assert got == {None: charge_quantities(charges=[raw], **window, **project)["storage_gb_month"][None]}
    for dimension in ("resource_id", "cost_center"):
        by = line_quantities_by(charge=plain, key=None, dimension=dimension, **window)
        assert by == line_quantities_by(charge=raw, key=None, dimension=dimension, **window), dimension
    edges = [start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=h) for h in range(0, 40, 3)]
    series = line_series(charge=plain, key=None, edges=edges, **window)
    assert series == line_series(charge=raw, key=None, edges=edges, **window)
