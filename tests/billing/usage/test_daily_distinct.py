"""The per-day distinct table: kept in step by the ingest, backfilled by its migration, and the
unique_count reads built on it (summary per day, quantity over a window) equal a recount of the events."""

from __future__ import annotations

import importlib
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Metric, UsageDailyDistinct, UsageEvent
from billing.selectors.usage import usage_by_metric, usage_grouped
from billing.selectors.usage.distinct import split_days
from billing.services.usage import usage_ingest

from .conftest import BASE, iso, rows_by

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 30, tzinfo=UTC)  # four days across a month's end: 30, 31 March, 1, 2 April
SPAN_US = 4 * 86_400 * 10**6
tenants = itertools.count()


def daily_rows(tenant_id: str) -> list[tuple]:
    return sorted(UsageDailyDistinct.objects.filter(tenant_id=tenant_id).values_list("metric_id", "day", "unique_key"))


def raw_pairs(tenant_id: str) -> list[tuple]:
    """Return the (metric, UTC day, unique_key) set of the tenant's raw events, recomputed."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT metric_id, (\"timestamp\" AT TIME ZONE 'UTC')::date, unique_key "
            "FROM billing_usageevent WHERE tenant_id = %s AND unique_key IS NOT NULL ORDER BY 1, 2, 3",
            [tenant_id],
        )
        return cur.fetchall()


def ingest(tenant_id: str, events: list[tuple[int, str, str]]) -> None:
    """Ingest (microseconds after T0, metric, user) events in batches of up to 7 (duplicates across batches)."""
    docs = [
        {
            "event_id": f"e{i}",
            "metric": metric,
            "timestamp": iso(T0 + timedelta(microseconds=us)),
            "properties": {"user_id": user},
        }
        for i, (us, metric, user) in enumerate(events)
    ]
    for lo in range(0, len(docs), 7):
        usage_ingest(tenant_id=tenant_id, events=docs[lo : lo + 7], now=T0 + timedelta(days=10))


def expected(events, start: datetime, end: datetime) -> tuple[dict[datetime, int], int]:
    """Return ({UTC day: distinct users}, distinct users) of the active_users events in [start, end)."""
    per_day: dict[datetime, set] = {}
    for us, metric, user in events:
        ts = T0 + timedelta(microseconds=us)
        if metric == "active_users" and start <= ts < end:
            per_day.setdefault(ts.replace(hour=0, minute=0, second=0, microsecond=0), set()).add(user)
    return {d: len(users) for d, users in per_day.items()}, len(set().union(*per_day.values()))


instants = st.one_of(
    st.integers(-86_400 * 10**6, SPAN_US + 86_400 * 10**6),  # anywhere, to the microsecond
    st.integers(-1, 5).map(lambda d: d * 86_400 * 10**6),  # midnight UTC
    st.integers(-24, 24 * 5).map(lambda h: h * 3_600 * 10**6),  # on the hour
)
event_lists = st.lists(
    st.tuples(
        st.integers(0, SPAN_US - 1),
        st.sampled_from(["active_users", "active_users", "api_calls"]),
        st.sampled_from([f"u{i}" for i in range(6)]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_lists, a=instants, b=instants)
def test_daily_reads_equal_a_recount_of_the_events(catalog, events, a, b):
    """Per-day distinct counts and the window's distinct count are exact for any window, partial days
    at its edges included; the table holds exactly the events' (metric, day, value) set."""
    tenant_id = f"dd{next(tenants)}"
    if events:
        ingest(tenant_id, events)
    assert daily_rows(tenant_id) == raw_pairs(tenant_id)
    start, end = sorted((T0 + timedelta(microseconds=a), T0 + timedelta(microseconds=b)))
    if start == end:
        end += timedelta(microseconds=1)
    per_day, total = expected(events, start, end)
    metric = Metric.objects.get(code="active_users")
    groups = usage_grouped(tenant_id=tenant_id, start=start, end=end, group_by="day", metrics=[metric])
    assert {g.key: int(g.quantity) for g in groups} == per_day
    assert usage_by_metric(tenant_id=tenant_id, start=start, end=end, metrics=[metric])[metric.code].quantity == total


@pytest.mark.parametrize(
    ("later", "want"),
    [
        ([], 2),  # nothing after the window's end today: the day's rows are the window's values
        ([(7, "u3")], 2),  # a value seen only after the end does not count
        ([(7, "u1"), (8, "u9")], 2),  # nor does a later repeat of a counted value add one
    ],
)
def test_a_window_ending_inside_today_counts_only_what_came_before_its_end(catalog, later, want):
    """A preview's window ends now, inside today: today's part is [midnight, now) whatever comes later."""
    tenant_id = f"dd{next(tenants)}"
    hour = 3_600 * 10**6
    events = [(1 * hour, "active_users", "u1"), (2 * hour, "active_users", "u2"), (3 * hour, "active_users", "u1")]
    ingest(tenant_id, events + [(h * hour, "active_users", user) for h, user in later])
    metric = Metric.objects.get(code="active_users")
    for start in (T0 - timedelta(days=1), T0, T0 + timedelta(minutes=30)):
        got = usage_by_metric(tenant_id=tenant_id, start=start, end=T0 + timedelta(hours=5), metrics=[metric])
        assert got["active_users"].quantity == want
        groups = usage_grouped(
            tenant_id=tenant_id, start=start, end=T0 + timedelta(hours=5), group_by="day", metrics=[metric]
        )
        assert {g.key: int(g.quantity) for g in groups} == {T0: want}


def test_split_days_in_utc():
    """Whole UTC days and the partial ones at the edges, whatever offset the instants carry."""
    cet = datetime(2026, 3, 30, 1, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    whole_start, whole_end, edges = split_days(cet, datetime(2026, 4, 2, tzinfo=UTC))
    assert (whole_start.isoformat(), whole_end.isoformat()) == ("2026-03-31", "2026-04-02")
    assert edges == [(T0.date(), datetime(2026, 3, 30, 1, 30, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))]
    inside = split_days(datetime(2026, 3, 30, 5, tzinfo=UTC), datetime(2026, 3, 30, 6, tzinfo=UTC))
    assert inside[2] == [(T0.date(), datetime(2026, 3, 30, 5, tzinfo=UTC), datetime(2026, 3, 30, 6, tzinfo=UTC))]
    across = split_days(T0 - timedelta(hours=1), T0 + timedelta(hours=1))  # no whole day, two partial ones
    assert across[0] == across[1] and across[2] == [
        ((T0 - timedelta(days=1)).date(), T0 - timedelta(hours=1), T0),
        (T0.date(), T0, T0 + timedelta(hours=1)),
    ]
    assert split_days(T0, T0)[2] == []


def test_only_unique_count_events_are_written(catalog):
    ingest("plain", [(0, "api_calls", "u1"), (1, "api_calls", "u2")])
    assert UsageEvent.objects.filter(tenant_id="plain").count() == 2
    assert not UsageDailyDistinct.objects.filter(tenant_id="plain").exists()


def test_whole_days_survive_archived_raw_events(catalog, finance):
    """Once a month's raw events are dropped, whole-day summaries of unique_count are unchanged."""
    events = [(h * 3_600 * 10**6, "active_users", f"u{h % 5}") for h in range(0, 96, 3)]
    ingest("arch", events)
    params = {"from": iso(T0), "to": iso(T0 + timedelta(days=4)), "metric": "active_users"}
    url = f"{BASE}/arch/usage/summary"
    before = [finance.get(url, {**params, "group_by": g}).json()["results"] for g in ("day", "metric")]
    UsageEvent.objects.filter(tenant_id="arch").delete()
    after = [finance.get(url, {**params, "group_by": g}).json()["results"] for g in ("day", "metric")]
    assert after == before
    assert [r["quantity"] for r in before[0]] == ["5", "5", "5", "5"]
    assert rows_by(finance.get(url, params))["active_users"]["quantity"] == "5"


def test_migration_backfills_existing_events(catalog):
    """The data migration rebuilds the table from the events stored before it (no double, no miss)."""
    ingest("old", [(0, "active_users", "u1"), (1, "active_users", "u1"), (86_400 * 10**6, "active_users", "u2")])
    ingest("old2", [(5, "active_users", "u9")])
    want = raw_pairs("old") + raw_pairs("old2")
    UsageDailyDistinct.objects.filter(tenant_id="old").delete()
    migration = importlib.import_module("billing.migrations.0009_usage_daily_distinct")
    with connection.cursor() as cur:
        cur.execute(migration.BACKFILL)
    assert daily_rows("old") + daily_rows("old2") == [(m, d, k) for m, d, k in want]
    assert len(daily_rows("old")) == 2
