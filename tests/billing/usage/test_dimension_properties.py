"""Hypothesis: over random events and filters, the rollups per priced dimension price each event
exactly once (the lines partition the total) and give the raw-event computation's quantities."""

from datetime import timedelta
from decimal import Decimal
from itertools import count
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.pricing import ChargeSpec
from billing.selectors.terms import PricedCharge, filters_from
from billing.selectors.usage import charge_quantities, line_quantities_by, line_series
from billing.services.catalog import catalog_load
from billing.services.usage import usage_ingest
from tests.billing.subscriptions.conftest import utc

pytestmark = pytest.mark.django_db

START = utc(2026, 4, 1)
VALUES = {"type": ["cpu", "gpu", "tpu"], "model": ["a100", "h100"], "zone": ["1", "2"]}
KEYS = sorted(VALUES)
# Each key absent, one of its values, or a number (compared as its JSON text).
PROPERTY = st.tuples(*(st.sampled_from([None, 2, *VALUES[k]]) for k in KEYS)).map(
    lambda vs: {k: v for k, v in zip(KEYS, vs, strict=True) if v is not None}
)
EVENT = st.fixed_dictionaries(
    {
        "quantity": st.decimals(min_value=0, max_value=1000, places=3),
        "minutes": st.integers(0, 6 * 60 - 1),  # six hours: whole hours and partial edges
        "properties": PROPERTY,
        "resource_id": st.sampled_from(["", "vm-1", "vm-2"]),
    }
)
FILTER = (
    st.tuples(*(st.one_of(st.none(), st.lists(st.sampled_from(VALUES[k]), min_size=1, unique=True)) for k in KEYS))
    .map(lambda vs: {k: v for k, v in zip(KEYS, vs, strict=True) if v is not None})
    .filter(bool)
)
TENANTS = count()


def _catalog(aggregation: str, filters: list[dict]) -> dict:
    stored = [{"name": f"f{i}", "properties": p, "model": "per_unit", "unit_price": "1"} for i, p in enumerate(filters)]
    return {
        "metrics": [{"code": "m", "name": "M", "aggregation": aggregation}],
        "plans": [
            {
                "id": "p",
                "name": "P",
                "currency": "USD",
                "charges": [{"metric": "m", "model": "per_unit", "unit_price": "1", "filters": stored}],
            }
        ],
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    aggregation=st.sampled_from(["sum", "count", "max"]),
    filters=st.lists(FILTER, min_size=1, max_size=3),
    events=st.lists(EVENT, min_size=1, max_size=40),
    window=st.one_of(st.just([0, 6 * 60]), st.tuples(st.integers(0, 6 * 60), st.integers(0, 6 * 60)).map(sorted)),
    edit_after=st.booleans(),
)
def test_filter_lines_partition_the_events_and_equal_the_raw_computation(
    db, aggregation, filters, events, window, edit_after
):
    tenant = f"prop-{next(TENANTS)}"
    first, then = (filters[:1], filters) if edit_after else (filters, filters)
    catalog_load(data=_catalog(aggregation, first))
    batch = [
        {
            "event_id": f"e{i}",
            "metric": "m",
            "quantity": str(e["quantity"]),
            "timestamp": (START + timedelta(minutes=e["minutes"])).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": e["properties"],
            "resource_id": e["resource_id"],
        }
        for i, e in enumerate(events)
    ]
    if batch:
        usage_ingest(tenant_id=tenant, events=batch, now=START + timedelta(days=1))
    catalog_load(data=_catalog(aggregation, then))  # a catalog change after ingest rebuilds exactly
    charge = PricedCharge(
        metric="m",
        metric_name="M",
        aggregation=aggregation,
        field="",
        spec=ChargeSpec("per_unit", unit_price=Decimal(1)),
        filters=filters_from(_catalog(aggregation, then)["plans"][0]["charges"][0]["filters"]),
    )
    lo, hi = (START + timedelta(minutes=m) for m in window)
    edges = [START + timedelta(minutes=m) for m in range(0, 6 * 60 + 1, 90)]
    args = {"tenant_id": tenant, "start": lo, "end": hi, "period_s": Decimal(86400)}

    def read():
        by_key = charge_quantities(charges=[charge], **args)["m"]
        parts = {
            key: (
                line_quantities_by(charge=charge, key=key, dimension="resource_id", **args),
                line_series(charge=charge, key=key, edges=edges, **args),
            )
            for key in by_key
        }
        return by_key, parts

    rolled = read()
    with (
        mock.patch("billing.selectors.usage.charges.dim_quantities", return_value=None),
        mock.patch("billing.selectors.usage.charges.dim_quantities_by", return_value=None),
        mock.patch("billing.selectors.usage.charges.dim_series", return_value=None),
    ):
        raw = read()
    assert rolled == raw
    inside = [e for e in events if window[0] <= e["minutes"] < window[1]]
    by_key = rolled[0]
    if aggregation == "sum":
        assert sum(by_key.values()) == sum((e["quantity"] for e in inside), Decimal(0))
    elif aggregation == "count":
        assert sum(by_key.values()) == len(inside)
    else:
        assert max(by_key.values(), default=0) == max((e["quantity"] for e in inside), default=0)
