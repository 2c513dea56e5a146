"""`plain_batch` answers a common batch a column at a time (`_plain_columns`) and only vouches for
what its event-by-event reading (`_plain_each`) takes too: a batch it wrongly took would reach the
batch statement with a form the statement does not check (a float in properties, a quantity with a
newline…). No database: these are the checks on the parsed body alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.services.usage_validation import _plain_columns, _plain_each, plain_batch
from tests.billing.usage.batch_forms import BASE_EVENT, FIELDS, body_of, render

# Texts a column-wise check could be fooled by: a newline inside one value (the column's values are
# matched as one newline-joined text), numbers that are not plain (bool, negative, too big, float).
TRICKY = {
    "quantity": ['"1\\n2"', '"1\\n"', '"\\n1"', '"2.5\\n3"', "true", "false", "-1", "1e16", "1.5", '"1"', "7", "null"],
    "timestamp": ['"2026-11-30T10:15:00Z\\n2026-11-30T10:15:00Z"', '"2026-11-30T10:15:00Z\\n"', '"\\n"', "5", "null"],
    "event_id": ['"a\\nb"', "5", "true", "null", '"e"'],
    "metric": ['"api_calls\\n"', "5", '"jobs"'],
    "resource_id": ['"vm\\n1"', "5", "[]", "{}", "null"],
    "cost_center": ['"cc\\n"', "5", "[]", "null"],
    "properties": [
        '{"f": 1.5}',
        '{"a": [1]}',
        '{"a": {"b": 1}}',
        '{"n": null, "b": true, "i": 3}',
        "[]",
        '"x"',
        "null",
    ],
    "": ['"note": "x"', '"extra": 1.5', '"meta": {"a": 1}', '"tags": []'],
}
FORMS = {name: [text for text, _ in forms] + TRICKY[name] for name, forms in FIELDS}


def events_of(texts: list[str]) -> list:
    return orjson.loads(body_of(texts))["events"]


def one_event(choice: dict) -> str:
    fields = dict(BASE_EVENT)
    for name, text in choice.items():
        fields[name] = text
    extra = fields.pop("", None)
    return render([*fields.items(), ("", extra)])


event_texts = st.builds(
    one_event, st.fixed_dictionaries({}, optional={name: st.sampled_from(texts) for name, texts in FORMS.items()})
)


@settings(max_examples=400, deadline=None)
@given(st.lists(event_texts, min_size=1, max_size=6))
def test_the_columns_vouch_only_for_what_each_event_passes(texts):
    events = events_of(texts)
    each = _plain_each(events)
    assert not _plain_columns(events) or each
    assert plain_batch(events) is each


@pytest.mark.parametrize("name", [name for name, _ in FIELDS])
def test_every_form_beside_plain_events_gets_the_event_by_event_answer(name):
    for text in FORMS[name]:
        events = events_of([one_event({}), one_event({name: text}), one_event({})])
        each = _plain_each(events)
        assert not _plain_columns(events) or each, (name, text)
        assert plain_batch(events) is each, (name, text)


@pytest.mark.parametrize(
    "name, text",
    [
        ("quantity", '"1\\n2"'),
        ("quantity", '"1\\n"'),
        ("timestamp", '"2026-11-30T10:15:00Z\\n2026-11-30T10:15:00Z"'),
        ("quantity", "true"),
        ("properties", '{"f": 1.5}'),
    ],
)
def test_a_newline_bool_or_float_hidden_among_plain_values_is_not_taken(name, text):
    events = events_of([one_event({}), one_event({name: text})])
    assert not _plain_columns(events)
    assert not plain_batch(events)


def bench_like(n: int) -> list:
    """Return n events as the ingest bench sends them (string quantities, UTC instants, two properties)."""
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    return [
        {
            "event_id": f"e-{i:08d}",
            "metric": ("api_calls", "jobs", "storage_gb", "active_users")[i % 4],
            "quantity": str(1 + i % 10) if i % 4 != 2 else f"{i % 500}.25",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "resource_id": f"vm-{i % 40}",
            "properties": {"user_id": f"u{i % 300}", "region": "eu-west-1"},
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"quantity": 3},
        {"quantity": 2.5},
        {"timestamp": None},
        {"properties": None},
        {"resource_id": None, "cost_center": "cc-1"},
    ],
)
def test_common_batches_are_answered_by_column(change):
    events = bench_like(1000)
    for ev in events[::3]:
        ev.update(change)
    assert _plain_columns(events)
    assert _plain_each(events)


def test_a_batch_the_columns_cannot_vouch_for_is_still_read_event_by_event():
    events = bench_like(10)
    events[4]["meta"] = "x"  # an extra key with a scalar: plain, but not for the column check
    events[5]["properties"] = {"a": {"b": "c"}}  # nested properties without floats: plain too
    assert not _plain_columns(events)
    assert plain_batch(events)
