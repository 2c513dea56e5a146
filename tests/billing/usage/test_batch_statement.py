"""The batch statement (`usage_sql.batch_sql`) is the Python path, only faster.

A plain batch body is first offered to one statement that parses and validates it in PostgreSQL;
anything it refuses (or cannot parse) goes through `clean_events`, the reference. Every body here
is sent twice, as raw JSON text, to two tenants set up alike: to one with the statement enabled, to
the other with `plain_batch` patched to False (the Python path alone). The answers (status and
bytes) and everything stored (events, keys, every rollup) must be the same, and the statement must
be taken for the forms it is meant for and write nothing when it refuses.

The value forms, each tagged F (the statement stores it), V (valid; the Python path stores it) or B
(refused with a 400 by the Python path), are in `batch_forms.py`.
"""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from decimal import Decimal

import hypothesis
import orjson
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Invoice, Metric, Tenant, UsageEvent, UsageEventKey, UsageHourly
from billing.models.usage_dims import UsageDimRollup
from billing.models.usage_levels import UsageLevel
from billing.services import usage as usage_service
from billing.services.usage_sql import batch_sql
from costcenters.models import CostCenter
from tests.billing.usage.batch_forms import (
    BASE_EVENT,
    FIELDS,
    INVOICES,
    NOW,
    B,
    F,
    V,
    body_of,
    nest,
    render,
    snapshot,
    written,
)
from tests.billing.usage.conftest import BASE
from tests.billing.usage.test_single_statement import statements  # noqa: F401 (a fixture)
from tests.conftest import make_client

TENANTS = itertools.count()


@pytest.fixture
def twins(catalog, service, clock, monkeypatch):
    """Return new() -> (fast tenant, python-path tenant), set up alike: a live and a deleted cost center
    and the INVOICES (and a third tenant's cost center). The clock stands at NOW (`service`'s token is
    issued before, in real time); no tenant is remembered as having quotas."""
    monkeypatch.setattr(usage_service._Catalog, "quota_tenants", set())
    clock.set(NOW)

    def new() -> tuple[str, str]:
        n = next(TENANTS)
        pair = (f"fast{n}", f"slow{n}")
        for tenant_id in pair:
            tenant = Tenant.objects.create(id=tenant_id, name=tenant_id)
            CostCenter.objects.create(tenant=tenant, code="cc-live", name="Live")
            CostCenter.objects.create(tenant=tenant, code="cc-gone", name="Gone", deleted_at=NOW)
            for status, start, end in INVOICES:
                Invoice.objects.create(tenant=tenant, status=status, currency="USD", period_start=start, period_end=end)
        other = Tenant.objects.create(id=f"other{n}", name="Other")
        CostCenter.objects.create(tenant=other, code="cc-other", name="Not theirs")
        return pair

    return new


@pytest.fixture
def raw_calls(monkeypatch):
    """Record each run of the batch statement: (tenant, "taken" | "refused" | error class name).

    A refusal must have written nothing: the spy compares the tenant's rows before and after it.
    """
    calls: list[tuple[str, str]] = []
    real = usage_service._ingest_raw

    def spy(tenant_id, body, n, now, fresh):
        before = written(tenant_id)
        try:
            result = real(tenant_id, body, n, now, fresh)
        except Exception as exc:
            calls.append((tenant_id, type(getattr(exc, "__cause__", None) or exc).__name__))
            raise
        if result is None:
            assert written(tenant_id) == before, "the refused statement wrote something"
        calls.append((tenant_id, "refused" if result is None else "taken"))
        return result

    monkeypatch.setattr(usage_service, "_ingest_raw", spy)
    return calls


def post_raw(client, tenant_id: str, body: bytes):
    return client.post(f"{BASE}/{tenant_id}/usage/batch", data=body, content_type="application/json")


def post_both(service, fast: str, slow: str, body: bytes):
    """Post `body` to `fast` (statement enabled) and to `slow` (Python path only); return both answers."""
    a = post_raw(service, fast, body)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(usage_service, "plain_batch", lambda events: False)
        b = post_raw(service, slow, body)
    return a, b


def one_form_body(name: str, text: str | None) -> bytes:
    event = {**BASE_EVENT, "event_id": '"one"'}
    fields = [(k, v) for k, v in event.items() if k != name] + [(name, text)]
    return body_of([render(list(BASE_EVENT.items())), render(fields)])


def plain_form(name: str, text: str | None) -> bool:
    return usage_service.plain_batch(orjson.loads(one_form_body(name, text))["events"])


# The forms the statement must refuse by itself (plain ones that are not F), by tag, as (field index, form).
DEVIATIONS = {
    tag: [
        (j, form)
        for j, (name, forms) in enumerate(FIELDS)
        for form in forms
        if form[1] == tag and plain_form(name, form[0])
    ]
    for tag in (V, B)
}


# --- equivalence over generated batches ---------------------------------------------------------------


@st.composite
def events_of(draw, allowed: frozenset[str]) -> list[tuple[str, tuple[str | None, str]]]:
    """Return one event as [(field, (value text, tag))] with forms of the `allowed` tags."""
    return [(name, draw(st.sampled_from([f for f in forms if f[1] in allowed]))) for name, forms in FIELDS]


@st.composite
def batches(draw) -> tuple[bytes, set[str]]:
    """Return (body, tags of its forms): fast forms only, or with one field of one event in a plain
    form the statement must refuse, valid (V1) or bad (B1), or any valid forms, or any forms."""
    mode = draw(st.sampled_from(["F", "V1", "B1", "B1", "V", "any"]))
    allowed = frozenset({"V": {F, V}, "any": {F, V, B}}.get(mode, {F}))
    events = draw(st.lists(events_of(allowed), min_size=1, max_size=6))
    if mode in ("V1", "B1"):  # one form the statement must refuse (the others are plain_batch's)
        i = draw(st.integers(0, len(events) - 1))
        j, form = draw(st.sampled_from(DEVIATIONS[mode[0]]))
        events[i][j] = (FIELDS[j][0], form)
    texts = []
    for ev in events:
        order = draw(st.permutations(range(len(ev))))
        fields = [(ev[k][0], ev[k][1][0]) for k in order]
        texts.append(render(fields, escape_keys=draw(st.booleans()), decoy=draw(st.booleans())))
    body = body_of(texts, decoy_events=draw(st.booleans()), sep=draw(st.sampled_from([", ", ",\n\t "])))
    return body, {tag for ev in events for _, (_, tag) in ev}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sent=st.lists(batches(), min_size=1, max_size=2))
def test_the_statement_answers_and_stores_exactly_what_the_python_path_does(twins, service, raw_calls, sent):
    """Each batch (a second one re-sends some event_ids) gets the same answer from both tenants, and
    leaves both with the same rows; a batch of fast forms only is stored by the statement."""
    fast, slow = twins()
    for body, tags in sent:
        raw_calls.clear()
        a, b = post_both(service, fast, slow, body)
        assert (a.status_code, a.content) == (b.status_code, b.content), body
        assert a.status_code == (400 if B in tags else 200), (a.content, body)
        assert all(tenant == fast for tenant, _ in raw_calls)  # the Python-path tenant never ran it
        outcome = raw_calls[-1][1] if raw_calls else "not tried"
        hypothesis.event(f"statement: {outcome}")
        if tags == {F}:
            assert outcome == "taken", (raw_calls, body)
    assert snapshot(fast) == snapshot(slow)


# --- every form alone, next to a valid event ----------------------------------------------------------


def check_one_form(service, raw_calls, fast: str, slow: str, name: str, text: str | None, tag: str) -> None:
    body = one_form_body(name, text)
    raw_calls.clear()
    a, b = post_both(service, fast, slow, body)
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert a.status_code == (400 if tag == B else 200), a.content
    assert snapshot(fast) == snapshot(slow)
    outcomes = [outcome for _, outcome in raw_calls]
    if tag == F:
        assert outcomes == ["taken"]
    elif plain_form(name, text):
        # tried, and refused (writing nothing) or failed on a value PostgreSQL cannot read
        assert len(outcomes) == 1 and outcomes[0] != "taken", outcomes
    else:
        assert outcomes == []


@pytest.mark.parametrize(("name", "forms"), FIELDS, ids=[name or "extra" for name, _ in FIELDS])
def test_each_form_gets_the_python_paths_answer_and_the_statement_takes_only_its_own(
    twins, service, raw_calls, name, forms
):
    """Each form of the field, in an event next to a valid one, sent to a new pair of tenants."""
    failures = []
    for text, tag in forms:
        try:
            check_one_form(service, raw_calls, *twins(), name, text, tag)
        except AssertionError as exc:
            failures.append(f"{name} = {str(text)[:60]} ({tag}): {exc}")
    assert not failures, "\n\n".join(failures)


# --- the statement's own cases ------------------------------------------------------------------------


def body_json(events: list[dict]) -> bytes:
    return orjson.dumps({"events": events})


def jobs(ids, hour: int = 10, **fields) -> list[dict]:
    return [
        {"event_id": f"{i}", "metric": "jobs", "timestamp": f"2026-11-30T{hour:02d}:{i % 60:02d}:00Z", **fields}
        for i in ids
    ]


def test_a_plain_batch_is_one_statement_that_also_creates_the_tenant(twins, service, statements, monkeypatch):
    monkeypatch.setattr(usage_service, "_ingest_once", None)  # the Python path would fail
    monkeypatch.setattr(usage_service._Catalog, "shapes", {})  # a process that has not read the catalog yet
    body = body_json(jobs(range(5)) + [{"event_id": "u", "metric": "active_users"}])
    ours = []
    for tenant_id in ("newco", "nextco"):
        assert not Tenant.objects.filter(id=tenant_id).exists()
        statements.clear()
        r = post_raw(service, tenant_id, body)
        assert r.json() == {"accepted": 6, "duplicates": 0}
        skip = ("SAVEPOINT", "RELEASE SAVEPOINT", "SELECT coalesce((SELECT")
        ours.append([s for s in statements if not s.startswith(skip)])
        assert Tenant.objects.filter(id=tenant_id).exists()
        assert sum(h.event_count for h in UsageHourly.objects.filter(tenant_id=tenant_id)) == 6
    statement = " ".join(batch_sql(True, False, "unique").split())[:40]
    # the process reads the catalog once, for the metrics' shapes; then a batch is no context query,
    # staging table or COPY, just the statement
    assert ours == [["SELECT array_agg(code), array_agg(aggreg", statement], [statement]]


@pytest.fixture
def shapes(monkeypatch):
    """Record the shape of every batch statement run."""
    seen: list[str] = []
    real = usage_service.batch_sql

    def spy(fresh, repeats=True, shape="full"):
        seen.append(shape)
        return real(fresh, repeats, shape)

    monkeypatch.setattr(usage_service, "batch_sql", spy)
    return seen


def test_a_batch_statement_writes_only_the_rollups_its_metrics_have(twins, service, raw_calls, shapes, monkeypatch):
    monkeypatch.setattr(usage_service._Catalog, "shapes", {})
    Metric.objects.filter(code="compute_hours").update(dimension_keys=["type"])
    fast, slow = twins()
    gpu = {"metric": "compute_hours", "quantity": "2", "properties": {"type": "gpu"}}
    user = {"metric": "active_users", "properties": {"user_id": "u1"}}
    for n, (extra, shape) in enumerate([([], "plain"), ([user], "unique"), ([gpu], "full"), ([gpu, user], "full")]):
        extra = [{**e, "event_id": f"x{n}-{k}", "timestamp": "2026-11-30T11:00:00Z"} for k, e in enumerate(extra)]
        a, b = post_both(service, fast, slow, body_json(jobs(range(n * 10, n * 10 + 3)) + extra))
        assert (a.status_code, a.content) == (b.status_code, b.content) == (200, a.content)
        assert raw_calls[-1] == (fast, "taken")
        assert shapes[-1] == shape
    assert snapshot(fast) == snapshot(slow)
    assert UsageDimRollup.objects.filter(tenant_id=fast, metric_id="compute_hours").exists()


def test_a_metric_whose_shape_changed_since_the_process_read_it_takes_the_python_path_once(
    twins, service, raw_calls, shapes, monkeypatch
):
    monkeypatch.setattr(usage_service._Catalog, "shapes", {})
    Metric.objects.filter(code="compute_hours").update(dimension_keys=[])  # no priced keys yet
    fast, slow = twins()
    gpu = {
        "metric": "compute_hours",
        "quantity": "2",
        "properties": {"type": "gpu"},
        "timestamp": "2026-11-30T11:00:00Z",
    }
    a, b = post_both(service, fast, slow, body_json([{**gpu, "event_id": "g1"}]))
    assert raw_calls[-1] == (fast, "taken") and shapes[-1] == "plain"
    Metric.objects.filter(code="compute_hours").update(dimension_keys=["type"])  # this process still has it plain
    a, b = post_both(service, fast, slow, body_json([{**gpu, "event_id": "g2"}, *jobs(range(2))]))
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert a.json() == {"accepted": 3, "duplicates": 0}
    assert raw_calls[-1] == (fast, "refused") and shapes[-1] == "plain"  # nothing written by it (the spy checks)
    assert usage_service._Catalog.shapes["compute_hours"] == "full"  # the Python path read the catalog again
    a, b = post_both(service, fast, slow, body_json([{**gpu, "event_id": "g3"}]))
    assert raw_calls[-1] == (fast, "taken") and shapes[-1] == "full"
    assert snapshot(fast) == snapshot(slow)
    dims = UsageDimRollup.objects.filter(tenant_id=fast, metric_id="compute_hours")
    assert sum(r.event_count for r in dims) == 2  # g2 and g3: g1 was stored before the metric had keys


def test_a_refused_batch_creates_no_tenant(twins, service, raw_calls):
    r = post_raw(service, "newco", body_json(jobs(range(3)) + [{"event_id": "x", "metric": "nope"}]))
    assert r.status_code == 400
    assert raw_calls == [("newco", "refused")]
    assert not Tenant.objects.filter(id="newco").exists()


def test_a_resent_batch_is_all_duplicates_a_half_known_one_half_and_the_first_of_a_repeat_wins(
    twins, service, raw_calls
):
    fast, slow = twins()
    answers = []
    repeated = {"event_id": "5", "metric": "jobs", "quantity": "9", "timestamp": "2026-11-30T10:05:00Z"}
    for events in (jobs(range(4), quantity="2.5"), jobs(range(4)), [*jobs(range(8), quantity="2.5"), repeated]):
        raw_calls.clear()
        a, b = post_both(service, fast, slow, body_json(events))
        assert (a.status_code, a.content) == (b.status_code, b.content)
        assert raw_calls[-1] == (fast, "taken")  # after the first try failed on a stored key, if any
        answers.append(a.json())
    assert answers == [
        {"accepted": 4, "duplicates": 0},
        {"accepted": 0, "duplicates": 4},
        {"accepted": 4, "duplicates": 5},
    ]
    assert snapshot(fast) == snapshot(slow)
    hourly = UsageHourly.objects.filter(tenant_id=fast)
    assert (sum(h.event_count for h in hourly), sum(h.quantity_sum for h in hourly)) == (8, 20)


def test_a_tenant_with_a_quota_takes_the_python_path_and_its_hard_quota_holds(twins, service, raw_calls):
    from quotas.models import Quota

    fast, _ = twins()
    Quota.objects.create(tenant_id=fast, metric_id="jobs", limit=3, period="month", enforcement="hard")
    first = post_raw(service, fast, body_json(jobs(range(2))))
    assert first.json() == {"accepted": 2, "duplicates": 0}
    assert raw_calls == [(fast, "refused")]  # the statement saw the quota and wrote nothing
    over = post_raw(service, fast, body_json(jobs(range(2, 4))))
    assert over.status_code == 429 and over.json()["errors"][0]["code"] == "quota_exceeded"
    assert raw_calls == [(fast, "refused")]  # now known to have quotas: not even tried
    assert post_raw(service, fast, body_json(jobs([2]))).json() == {"accepted": 1, "duplicates": 0}
    assert UsageEvent.objects.filter(tenant_id=fast).count() == 3


def test_a_closed_period_is_refused_as_before(twins, service, raw_calls):
    fast, slow = twins()
    events = jobs(range(2))
    events[1]["timestamp"] = "2026-09-15T10:00:00Z"
    a, b = post_both(service, fast, slow, body_json(events))
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert a.json()["errors"] == [
        {
            "code": "period_closed",
            "detail": "This timestamp falls in a period already covered by a finalized invoice.",
            "attr": "events.1.timestamp",
        }
    ]
    assert raw_calls == [(fast, "refused")]
    assert not UsageEventKey.objects.filter(tenant_id__in=(fast, slow)).exists()


def test_a_level_metric_takes_the_python_path_and_its_level_rollup_is_right(twins, service, raw_calls):
    fast, slow = twins()
    events = [
        {"event_id": "s1", "metric": "storage_gb_month", "quantity": 4, "timestamp": "2026-11-30T10:00:00Z"},
        {"event_id": "s2", "metric": "storage_gb_month", "quantity": "6", "timestamp": "2026-11-30T10:30:00Z"},
        {"event_id": "j1", "metric": "jobs", "timestamp": "2026-11-30T10:30:00Z"},
    ]
    a, b = post_both(service, fast, slow, body_json(events))
    assert a.json() == b.json() == {"accepted": 3, "duplicates": 0}
    assert raw_calls == [(fast, "refused")]
    assert snapshot(fast) == snapshot(slow)
    level = UsageLevel.objects.get(tenant_id=fast, metric_id="storage_gb_month")
    assert (level.event_count, level.last_quantity, level.integral) == (2, 6, 4 * 1800 + 6 * 1800)
    assert level.end_of_hour and level.hour == datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("where", "levels", "code"),
    [
        ("properties", 60, 200),  # the body 64 levels deep
        ("properties", 61, "json_too_deep"),
        ("properties", 66, "json_too_deep"),  # 70 levels
        ("unknown", 61, 200),
        ("unknown", 62, "json_too_deep"),
        ("unknown", 67, "json_too_deep"),
    ],
)
def test_a_body_nested_too_deep_is_refused_wherever_the_depth_is(twins, service, raw_calls, where, levels, code):
    fast, slow = twins()
    deep = orjson.loads(nest(levels))
    event = {
        "event_id": "d",
        "metric": "jobs",
        **({"properties": {"p": deep}} if where == "properties" else {"x": deep}),
    }
    a, b = post_both(service, fast, slow, body_json([event]))
    assert (a.status_code, a.content) == (b.status_code, b.content)
    if code == 200:
        assert a.json() == {"accepted": 1, "duplicates": 0}
    else:
        assert a.status_code == 400 and a.json()["errors"][0]["code"] == code
        assert not UsageEventKey.objects.filter(tenant_id__in=(fast, slow)).exists()
    assert raw_calls == []  # deeper than the statement's forms


@pytest.mark.parametrize(
    ("event", "attr"),
    [
        ('{"event_id": "n", "metric": "jo\\u0000bs"}', "events.0.metric"),
        ('{"event_id": "n\\u0000", "metric": "jobs"}', "events.0.event_id"),
        ('{"event_id": "n", "metric": "jobs", "properties": {"k": "a\\u0000"}}', "events.0.properties.k"),
        ('{"event_id": "n", "metric": "jobs", "properties": {"k\\u0000": 1}}', "events.0.properties.k\x00"),
        ('{"event_id": "n", "metric": "jobs", "note": "\\u0000"}', "events.0.note"),
    ],
)
def test_a_nul_character_is_refused_as_before(twins, service, raw_calls, event, attr):
    fast, slow = twins()
    a, b = post_both(service, fast, slow, body_of([event]))
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert [(e["attr"], e["code"]) for e in a.json()["errors"]] == [(attr, "null_characters_not_allowed")]
    assert raw_calls == []
    assert not UsageEventKey.objects.filter(tenant_id__in=(fast, slow)).exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"events": []}',
        b'{"events": [1]}',
        b'{"events": "x"}',
        b"[]",
        b'{"events": [{"event_id": "a", "metric": "jobs"}], "more": 1}',
        body_json(jobs(range(1001))),
    ],
    ids=["empty", "not-an-object", "not-a-list", "array", "another-key", "1001-events"],
)
def test_a_body_that_is_not_a_batch_of_objects_is_answered_as_before(twins, service, raw_calls, body):
    fast, slow = twins()
    a, b = post_both(service, fast, slow, body)
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert raw_calls == []
    assert snapshot(fast) == snapshot(slow)


def test_hourly_totals_that_would_overflow_are_the_same_400(twins, service, raw_calls):
    fast, slow = twins()
    events = jobs(range(1000), quantity=10**15)
    for e in events:
        e["metric"] = "api_calls"
        e["timestamp"] = "2026-11-30T10:15:00Z"
    a, b = post_both(service, fast, slow, body_json(events))
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert a.json()["errors"][0]["code"] == "quantity_overflow"
    assert [outcome for _, outcome in raw_calls] == ["NumericValueOutOfRange"]
    assert not UsageEventKey.objects.filter(tenant_id__in=(fast, slow)).exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_twice_at_once_is_stored_once(catalog, raw_calls, monkeypatch):
    """Both requests open their transaction and run the statement together (a barrier inside the
    transaction): one stores the batch, the other waits on its keys, fails, and skips them all."""
    monkeypatch.setattr(usage_service._Catalog, "quota_tenants", set())
    n = 300
    body = body_json(jobs(range(n), quantity="1.5"))
    spy, together = usage_service._ingest_raw, threading.Barrier(2)

    def at_once(tenant_id, body, n, now, fresh):
        if fresh:
            together.wait(timeout=30)
        return spy(tenant_id, body, n, now, fresh)

    monkeypatch.setattr(usage_service, "_ingest_raw", at_once)
    for round_ in range(3):
        tenant_id, answers = f"race{round_}", [None, None]

        def send(i: int, tenant_id: str = tenant_id, answers: list = answers):
            try:
                answers[i] = post_raw(make_client("service"), tenant_id, body)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [a.json() for a in answers]
        assert sorted(g["accepted"] for g in got) == [0, n] and sum(g["duplicates"] for g in got) == n, got
        outcomes = sorted(o for t, o in raw_calls if t == tenant_id)
        assert outcomes == ["UniqueViolation", "taken", "taken"]  # both by the statement
        assert UsageEventKey.objects.filter(tenant_id=tenant_id).count() == n
        assert UsageEvent.objects.filter(tenant_id=tenant_id).count() == n
        hourly = UsageHourly.objects.filter(tenant_id=tenant_id)
        assert (sum(h.event_count for h in hourly), sum(h.quantity_sum for h in hourly)) == (n, Decimal("1.5") * n)
