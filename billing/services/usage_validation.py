"""Validation of usage events at ingest: one small check per field, run in a fixed order.

Plain code, no serializer or ORM object per event (this is the ingest hot path). Each check takes the
raw value of its field (None when absent) and the request's `EventContext`, and returns the clean
value or raises `Invalid(detail, code)`. `clean_events` runs `FIELD_CHECKS` over every event, records
each problem under its field ("events.3.metric" in a batch, "metric" for one event) and returns the
rows to store, in the column order of `FIELD_CHECKS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import chain

import orjson
from rest_framework import exceptions

from billing_project.fields import INSTANT_RANGE_DETAIL, TENANT_ID_RE, instant_in_range

MAX_ID_LENGTH = 128
MAX_COST_CENTER_LENGTH = 64
MAX_PROPERTIES_BYTES = 4096
MAX_FUTURE = timedelta(minutes=5)
MAX_DECIMAL_PLACES = 12
# NOTE: one event may carry at most 10^15; rollup columns hold 30 digits with 12 decimals (< 10^18),
# so about a thousand maximal events fit in one hour's bucket before the column would overflow, which
# is then reported as a 400 (quantity_overflow), never a 500.
MAX_QUANTITY = Decimal(10) ** 15
ONE = Decimal(1)
DECIMAL_STRING_RE = re.compile(r"\A-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z")


class Invalid(Exception):  # noqa: N818 - raised by a field check, never leaves this module
    """A field's value is refused: `detail` for people, `code` for programs."""

    def __init__(self, detail: str, code: str):
        self.detail = detail
        self.code = code


@dataclass
class EventContext:
    """The catalog and tenant facts one request validates against (read once per request)."""

    metrics: dict[str, tuple[str, str]]
    closed: list[tuple[datetime, datetime]]
    has_hard_quota: bool
    has_alerts: bool
    tenant_id: str
    now: datetime  # the request's instant: the timestamp of an event without one
    has_quota: bool = False  # any quota: its warning/exceeded events are recorded in the ingest transaction
    latest: datetime = field(init=False)  # the latest timestamp an event may carry
    _cost_centers: set[str] | None = field(default=None)

    def __post_init__(self) -> None:
        self.latest = self.now + MAX_FUTURE

    def cost_centers(self) -> set[str]:
        """Return the tenant's live cost-center codes (read on first use: most events carry none)."""
        if self._cost_centers is None:
            from costcenters.selectors.cost_centers import cost_center_codes

            self._cost_centers = cost_center_codes(tenant_id=self.tenant_id)
        return self._cost_centers


class EventErrors:
    """Collects every problem of a request as {attr: [ErrorDetail]}, raised at the end as one 400."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.items: dict[str, list] = {}

    def add(self, attr: str, detail: str, code: str) -> None:
        self.items.setdefault(self.prefix + attr, []).append(exceptions.ErrorDetail(detail, code=code))

    def raise_if_any(self) -> None:
        if self.items:
            raise exceptions.ValidationError(self.items)


def validate_tenant_id(tenant_id: str) -> None:
    """Raise 400 unless `tenant_id` is 1–64 characters of [A-Za-z0-9_.-]."""
    if not TENANT_ID_RE.match(tenant_id or ""):  # \A…\Z: the whole id
        raise exceptions.ValidationError(
            {"tenant_id": [exceptions.ErrorDetail("A tenant id is 1–64 characters of [A-Za-z0-9_.-].", code="invalid")]}
        )


def parse_timestamp(value) -> datetime | None:
    """Return an aware UTC datetime from an ISO 8601 timestamp or date string, or None if invalid."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


# --- the field checks: (value, ctx) -> clean value, or raise Invalid(detail, code) ---------------------

NOT_A_NUMBER = ("A quantity must be a number or a decimal string.", "invalid_quantity")


def check_event_id(value, ctx: EventContext) -> str:
    if value is None or value == "":
        raise Invalid("This field is required.", "required")
    if not isinstance(value, str):
        raise Invalid("An event_id is a string.", "invalid")
    if len(value) > MAX_ID_LENGTH:
        raise Invalid(f"An event_id has at most {MAX_ID_LENGTH} characters.", "max_length")
    return value


def check_metric(value, ctx: EventContext) -> str:
    if value is None or value == "":
        raise Invalid("This field is required.", "required")
    if not isinstance(value, str) or value not in ctx.metrics:
        raise Invalid(f"Unknown metric '{str(value)[:64]}'.", "unknown_metric")
    return value


def check_quantity(value, ctx: EventContext) -> Decimal:
    places_checked = True  # a whole number, or a string whose digits after the point are few enough
    if isinstance(value, str):
        q, places_checked = _quantity_of_string(value)
    elif value is None:
        raise Invalid("A quantity may not be null (leave it out for 1).", "null")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(*NOT_A_NUMBER)
    elif isinstance(value, int):
        q = Decimal(value)
    else:
        q, places_checked = Decimal(str(value)), False
        if not q.is_finite():
            raise Invalid("A quantity must be a finite number.", "invalid_quantity")
    if q < 0:
        raise Invalid("A quantity must be zero or more.", "min_value")
    if q > MAX_QUANTITY:
        raise Invalid(f"A quantity may be at most {MAX_QUANTITY:f}.", "max_value")
    if not places_checked and q.as_tuple().exponent < -MAX_DECIMAL_PLACES:
        if q != q.quantize(ONE.scaleb(-MAX_DECIMAL_PLACES)):
            raise Invalid(f"A quantity has at most {MAX_DECIMAL_PLACES} decimal places.", "max_decimal_places")
    return q


def _quantity_of_string(value: str) -> tuple[Decimal, bool]:
    """Return the Decimal of a quantity string and whether its places need no further check.

    The pattern admits digits only (always finite); without an exponent the places are the digits
    after the point, so most strings skip the Decimal's tuple.
    """
    if len(value) > 64:
        raise Invalid("The quantity is too large.", "max_value")
    if not DECIMAL_STRING_RE.match(value):
        raise Invalid('A quantity string is a plain decimal like "12.5" (no spaces or separators).', "invalid_quantity")
    try:
        q = Decimal(value)
    except (InvalidOperation, ValueError):
        raise Invalid(*NOT_A_NUMBER) from None
    dot = value.find(".")
    exponent_free = "e" not in value and "E" not in value
    return q, exponent_free and (dot < 0 or len(value) - dot - 1 <= MAX_DECIMAL_PLACES)


def check_timestamp(value, ctx: EventContext) -> datetime:
    if value is None:
        return ctx.now
    ts = parse_timestamp(value)
    if ts is None:
        raise Invalid("Expected an ISO 8601 timestamp or date.", "invalid_datetime")
    if not instant_in_range(ts):
        raise Invalid(INSTANT_RANGE_DETAIL, "out_of_range")
    if ts > ctx.latest:
        raise Invalid("A timestamp may be at most 5 minutes in the future.", "future_timestamp")
    for lo, hi in ctx.closed:
        if lo <= ts < hi:
            raise Invalid("This timestamp falls in a period already covered by a finalized invoice.", "period_closed")
    return ts


def check_resource_id(value, ctx: EventContext) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("A resource_id is a string.", "invalid")
    if len(value) > MAX_ID_LENGTH:
        raise Invalid(f"A resource_id has at most {MAX_ID_LENGTH} characters.", "max_length")
    return value


def check_cost_center(value, ctx: EventContext) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("A cost_center is a cost-center code (string).", "invalid")
    if value and (len(value) > MAX_COST_CENTER_LENGTH or value not in ctx.cost_centers()):
        raise Invalid(f"Unknown cost center '{value[:64]}' for this tenant.", "unknown_cost_center")
    return value


def check_properties(value, ctx: EventContext) -> str:
    """Return the properties serialized as JSON (the jsonb column's input)."""
    if value is None:
        return "{}"
    if not isinstance(value, dict):
        raise Invalid("Properties must be a JSON object.", "invalid")
    raw = orjson.dumps(value)
    if len(raw) > MAX_PROPERTIES_BYTES:
        raise Invalid(f"Properties are at most {MAX_PROPERTIES_BYTES} bytes serialized.", "too_large")
    if b"\\u0000" in raw and _ESCAPED_NUL_RE.search(raw):
        raise Invalid("Properties may not contain NUL characters.", "invalid")
    return raw.decode()


# A NUL as orjson writes it: `\u0000` after an even number of backslashes (an odd number makes it a
# literal backslash followed by the text "u0000", which is allowed).
_ESCAPED_NUL_RE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")

FieldCheck = Callable[[object, EventContext], object]
LEFT_OUT = object()

# The order of the stored row's columns, and of the errors a bad event reports. The third column is
# the clean value of a field left out of the event (None: checked like a null).
FIELD_CHECKS: tuple[tuple[str, FieldCheck, object], ...] = (
    ("event_id", check_event_id, None),
    ("metric", check_metric, None),
    ("quantity", check_quantity, ONE),
    ("timestamp", check_timestamp, None),
    ("resource_id", check_resource_id, None),
    ("cost_center", check_cost_center, None),
    ("properties", check_properties, None),
)
# Text columns PostgreSQL cannot store with a NUL in them, checked once every field is valid.
NUL_CHECKED = tuple(
    (i, name) for i, (name, _, _) in enumerate(FIELD_CHECKS) if name in ("event_id", "resource_id", "cost_center")
)


def _clean_valid(ev: dict, ctx: EventContext) -> tuple | None:
    """Return the row of a valid event, else None (the caller then names every problem).

    The checks of `FIELD_CHECKS`, unrolled: no per-field loop for the events that pass them all.
    """
    get = ev.get
    quantity = get("quantity", LEFT_OUT)
    try:
        row = (
            check_event_id(get("event_id"), ctx),
            check_metric(get("metric"), ctx),
            ONE if quantity is LEFT_OUT else check_quantity(quantity, ctx),
            check_timestamp(get("timestamp"), ctx),
            check_resource_id(get("resource_id"), ctx),
            check_cost_center(get("cost_center"), ctx),
            check_properties(get("properties"), ctx),
        )
    except Invalid:
        return None
    if "\x00" in row[0] or "\x00" in row[4] or "\x00" in row[5]:
        return None
    return row


# `_clean_valid` unrolls FIELD_CHECKS in this order; the NUL-checked columns are 0, 4 and 5.
_UNROLLED = "event_id metric quantity timestamp resource_id cost_center properties".split()
assert [name for name, _, _ in FIELD_CHECKS] == _UNROLLED and [c for c, _ in NUL_CHECKED] == [0, 4, 5]


def _clean_reporting(ctx: EventContext, i: int, ev, errors: EventErrors, index_attrs: bool) -> tuple | None:
    """Return the row of event `i`, or None after recording each of its problems in `errors`."""
    if not isinstance(ev, dict):
        errors.add(f"{i}" if index_attrs else "non_field_errors", "An event must be a JSON object.", "invalid")
        return None
    row = []
    ok = True
    for name, check, if_left_out in FIELD_CHECKS:
        value = ev.get(name, LEFT_OUT)
        if value is LEFT_OUT:
            if if_left_out is not None:
                row.append(if_left_out)
                continue
            value = None
        try:
            row.append(check(value, ctx))
        except Invalid as bad:
            errors.add(f"{i}.{name}" if index_attrs else name, bad.detail, bad.code)
            ok = False
    if not ok:
        return None
    for column, name in NUL_CHECKED:
        if "\x00" in row[column]:
            errors.add(f"{i}.{name}" if index_attrs else name, "NUL characters are not allowed.", "invalid")
            return None
    return tuple(row)


def clean_events(ctx: EventContext, events: list, errors: EventErrors, index_attrs: bool) -> list[tuple]:
    """Return the rows to store (in the order of `events`), recording every problem in `errors`.

    A row is (event_id, metric, quantity, timestamp, resource_id, cost_center, properties_json).
    """
    rows: list[tuple] = []
    for i, ev in enumerate(events):
        row = _clean_valid(ev, ctx) if isinstance(ev, dict) else None
        if row is None:
            row = _clean_reporting(ctx, i, ev, errors, index_attrs)
        if row is not None:
            rows.append(row)
    return rows


# --- the shapes `usage_sql.batch_sql` takes ---------------------------------------------------------------
PLAIN_DECIMAL_RE = re.compile(r"[0-9]{1,16}(\.[0-9]{1,12})?")
PLAIN_INSTANT_RE = re.compile(
    r"[12][0-9]{3}-[01][0-9]-[0-3][0-9]T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
)
_MAX_QUANTITY_INT = int(MAX_QUANTITY)
_PLAIN_KEYS = frozenset(name for name, _, _ in FIELD_CHECKS)
_PLAIN_PROPERTIES_DEPTH = 58  # the properties' own nesting below the body's 4 levels (MAX_JSON_DEPTH = 64)


def _plain_value(value, depth: int = 0) -> bool:
    """Return whether the JSON `value` holds no float (PostgreSQL would keep its literal, Python its
    shortest form) and nests at most `_PLAIN_PROPERTIES_DEPTH` levels."""
    kind = type(value)
    if kind is float:
        return False
    if kind is dict or kind is list:
        if depth >= _PLAIN_PROPERTIES_DEPTH:
            return False
        return all(_plain_value(v, depth + 1) for v in (value.values() if kind is dict else value))
    return True


def _plain_rest(ev: dict) -> bool:
    """Return whether the properties hold no float and every key outside the contract holds a scalar."""
    properties = ev.get("properties")
    if properties is not None:
        if type(properties) is not dict:
            return False
        for value in properties.values():
            kind = type(value)
            if kind is float or ((kind is dict or kind is list) and not _plain_value(value, 1)):
                return False
    if len(ev) > len(_PLAIN_KEYS) or not _PLAIN_KEYS.issuperset(ev):
        return all(type(v) is not dict and type(v) is not list for k, v in ev.items() if k not in _PLAIN_KEYS)
    return True


def plain_batch(events: list) -> bool:
    """Return whether every event is in the forms `usage_sql.batch_sql` validates by itself.

    Types and text shapes only, no value checks: the event_id and metric are strings; the quantity
    left out, a non-negative number up to 10^15 or a plain decimal string; the timestamp left out or
    null, or an ISO 8601 instant with a time (the offset optional); resource_id and cost_center
    left out, null or strings; properties left out, null, or an object without floats; any other key
    a scalar. A batch that is not plain is validated by `clean_events`.

    `_plain_columns` answers the common batch a column at a time; what it cannot vouch for is
    decided event by event (`_plain_each`), so the answer is always `_plain_each`'s.
    """
    return _plain_columns(events) or _plain_each(events)


# `_plain_columns`: a column's values of one type, its texts matched as one "\n"-joined text.
_SCALAR_TYPES = frozenset((str, int, bool, type(None)))
_STR, _STR_OR_NONE, _NUMBERS = frozenset((str,)), frozenset((str, type(None))), frozenset((int, float))
_PLAIN_DECIMALS = re.compile(f"(?:{PLAIN_DECIMAL_RE.pattern})(?:\n(?:{PLAIN_DECIMAL_RE.pattern}))*")
_PLAIN_INSTANTS = re.compile(f"(?:{PLAIN_INSTANT_RE.pattern})(?:\n(?:{PLAIN_INSTANT_RE.pattern}))*")


def _all_match(joined: re.Pattern, texts: list) -> bool:
    """Return whether every one of `texts` matches `joined`'s one pattern: joined by newlines, no
    text holding one of its own (the count proves it), the whole matches the pattern repeated."""
    text = "\n".join(texts)
    return text.count("\n") == len(texts) - 1 and joined.fullmatch(text) is not None


def _types(events: list, key: str, default=None) -> set:
    return set(map(type, [ev.get(key, default) for ev in events]))


def _plain_columns(events: list) -> bool:  # noqa: C901 (one check per column, in the order of the fields)
    """Return True only for a batch `_plain_each` takes too, checked by column in C loops (map, set,
    one regex per column); False when not sure (a float, a nested property, an extra key…)."""
    if not set(chain.from_iterable(events)) <= _PLAIN_KEYS:
        return False
    if _types(events, "event_id") != _STR or _types(events, "metric") != _STR:
        return False
    quantities = [ev.get("quantity", 1) for ev in events]
    kinds = set(map(type, quantities))
    if not kinds <= _STR | _NUMBERS:
        return False
    if str in kinds:
        texts = quantities if kinds == _STR else [value for value in quantities if type(value) is str]
        if not _all_match(_PLAIN_DECIMALS, texts):
            return False
    if kinds - _STR:
        numbers = quantities if str not in kinds else [value for value in quantities if type(value) is not str]
        if min(numbers) < 0 or max(numbers) > _MAX_QUANTITY_INT:
            return False
    instants = [ev.get("timestamp") for ev in events]
    kinds = set(map(type, instants))
    if not kinds <= _STR_OR_NONE:
        return False
    if type(None) in kinds:
        instants = [value for value in instants if value is not None]
    if instants and not _all_match(_PLAIN_INSTANTS, instants):
        return False
    if not _types(events, "resource_id") <= _STR_OR_NONE or not _types(events, "cost_center") <= _STR_OR_NONE:
        return False
    properties = [ev.get("properties") for ev in events]
    kinds = set(map(type, properties))
    if kinds != {dict}:
        if not kinds <= {dict, type(None)}:
            return False
        properties = [value for value in properties if value is not None]
    return set(map(type, chain.from_iterable(map(dict.values, properties)))) <= _SCALAR_TYPES


def _plain_each(events: list) -> bool:  # noqa: C901 (one flat loop over the events)
    """Return `plain_batch`'s answer, event by event."""
    decimal, instant, most = PLAIN_DECIMAL_RE.fullmatch, PLAIN_INSTANT_RE.fullmatch, _MAX_QUANTITY_INT
    for ev in events:
        get = ev.get
        if type(get("event_id")) is not str or type(get("metric")) is not str:
            return False
        quantity = get("quantity", 1)
        kind = type(quantity)
        if kind is str:
            if decimal(quantity) is None:
                return False
        elif (kind is not int and kind is not float) or not 0 <= quantity <= most:
            return False
        value = get("timestamp")
        if value is not None and (type(value) is not str or instant(value) is None):
            return False
        value = get("resource_id")
        if value is not None and type(value) is not str:
            return False
        value = get("cost_center")
        if value is not None and type(value) is not str:
            return False
        if not _plain_rest(ev):
            return False
    return True
