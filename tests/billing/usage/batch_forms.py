"""The value forms and the reads of the batch-statement tests (`test_batch_statement.py`).

Each form is the JSON text of one field's value (None: the key left out), tagged F (the batch
statement stores it), V (valid; the Python path stores it) or B (refused with a 400 by the Python
path). `snapshot` reads back everything a tenant has stored, without ids or rollup stripes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connection

from billing.models import (
    Tenant,
    UsageDailyDistinct,
    UsageEvent,
    UsageEventKey,
    UsageHourly,
    UsageRollup,
)
from billing.models.usage_dims import UsageDimHourly, UsageDimRollup
from billing.models.usage_levels import UsageLevel

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the requests' instant (events may be up to 12:05Z)
# (status, period start, period end) of each tenant's invoices: paid and uncollectible close their periods
INVOICES = [
    ("paid", datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)),
    ("uncollectible", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC)),
    ("void", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
]
F, V, B = "F", "V", "B"


def nest(k: int) -> str:
    """Return k nested JSON arrays."""
    return "[" * k + "]" * k


def sized(n: int) -> str:
    """Return properties of n + 8 bytes as orjson writes them (n + 9 as PostgreSQL prints jsonb)."""
    return '{"x": "' + "x" * n + '"}'


EVENT_ID = [
    *[(f'"{c}"', F) for c in "abcd"],
    (r'"\u0061"', F),
    (r'"\u00e9\ud83d\ude00"', F),
    ('"' + "i" * 128 + '"', F),
    ('""', B),
    ('"' + "i" * 129 + '"', B),
    ("5", B),
    ("null", B),
    (None, B),
]
METRIC = [
    *[(f'"{m}"', F) for m in ("api_calls", "jobs", "storage_gb", "active_users", "compute_hours")],
    (r'"j\u006fbs"', F),
    ('"storage_gb_month"', V),  # a level: its rollup is refolded by the Python path
    *[(text, B) for text in ('"nope"', '""', '"API_CALLS"', "5", None)],
]
QUANTITY = [
    *[(text, F) for text in (None, "0", "7", "1000000000000000", "2.5", "0.1", "1e2", "1E+2", "1.5e1", "-0.0")],
    *[(text, F) for text in ("0.000000000001", "123456789012.345", '"2.50"', '"0001"', '"1.000000000000"')],
    *[(text, F) for text in ('"0.000000000001"', '"1000000000000000"', "-0", "1e15", "0.1e1", "999999999999999")],
    ("123.456789012345", F),  # 15 significant digits: the float's shortest text is the literal
    # more than 15 significant digits: Python reads the float (12345678901234.568), PostgreSQL the literal
    *[(text, V) for text in ("123456789012345.6", "12345678901234.56789", "1000000000000000.0", "2.5000000000000")],
    *[(text, V) for text in ("1e-400", "1.0e-12", '"1e2"', '"1.0000000000000"', '"999999999999999.99"')],
    *[(text, B) for text in ("1.5e-13", "5e-324", "0.30000000000000004", '"9999999999999999"', "-1", "null")],
    *[(text, B) for text in ("true", '"abc"', '"-1"', '"1.0000000000001"', "1e16", '"1e20"', '"NaN"', '" 1"')],
    ('{"a": 1}', B),
]
TIMESTAMP = [
    *[(text, F) for text in (None, "null")],
    *[
        (f'"{text}"', F)
        for text in (
            "2026-11-30T10:15:00Z",
            "2026-11-30T15:45:00+05:30",
            "2026-11-30T07:15:00-03:00",
            "2026-11-30T10:15:00",
            "2026-11-30T10:15:00.5Z",
            "2026-11-30T10:15:00.123456+01:00",
            "2026-11-30T10:15:00.12",
            "2026-11-30T12:05:00Z",  # now + 5 minutes exactly
            "2026-10-01T00:00:00Z",  # the closed period's end (excluded from it)
            "2026-10-01T01:00:00+01:00",
            "2026-08-31T23:59:59.999999Z",
            "2000-01-01T00:00:00Z",
            "2026-11-30T10:15:00-00:00",
            "2026-10-15T00:00:00Z",  # under a void invoice
        )
    ],
    *[
        (f'"{text}"', V)
        for text in (
            "2026-11-30",
            "2026-11-30 10:15:00",
            " 2026-11-30T10:15:00Z",
            "2026-11-30T10:15:00+20:00",  # PostgreSQL refuses the offset: a data error, then Python
            "2026-11-30T10:15Z",
        )
    ],
    *[
        (f'"{text}"', B)
        for text in (
            "2026-11-30T12:05:00.000001Z",
            "2026-12-01T00:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-13-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2000-01-01T00:30:00+01:00",
            "2100-01-01T00:00:00Z",
            "2026-09-15T10:00:00Z",
            "2026-09-01T00:00:00Z",
            "2026-10-01T00:30:00+01:00",
            "2026-06-15T00:00:00Z",  # under an uncollectible invoice
            "2026-11-30T01:00:00-20:00",  # PostgreSQL refuses the offset, Python finds it in the future
            "yesterday",
        )
    ],
    ("5", B),
]
RESOURCE_ID = [
    *[(text, F) for text in (None, "null", '""', '"vm-1"', r'"\u00e9t\u00e9"', '"' + "r" * 128 + '"')],
    *[(text, B) for text in ('"' + "r" * 129 + '"', "5", '["a"]')],
]
COST_CENTER = [
    *[(text, F) for text in (None, "null", '""', '"cc-live"')],
    *[
        (text, B) for text in ('"cc-gone"', '"cc-unknown"', '"CC-LIVE"', '"cc-other"', "3")
    ],  # cc-other: another tenant's
]
PROPERTIES = [
    *[(text, F) for text in (None, "null", "{}", '{"user_id": "u1"}', '{"user_id": "u2", "type": "gpu"}')],
    *[(text, F) for text in ('{"type": "cpu", "n": 3}', '{"a": {"b": [1, {"c": "d"}]}, "user_id": "u1"}')],
    *[(text, F) for text in ('{"user_id": 7}', '{"n": 18446744073709551615, "z": -0}')],
    (r'{"name": "caf\u00e9 \ud83d\ude00 \u2028 \"q\" \\ \/ \t"}', F),
    ('{"user_id": "u1", "user_id": "u3"}', F),  # duplicate keys: the last one wins
    (r'{"type": "gpu", "t\u0079pe": "tpu"}', F),
    ('{"a": null, "b": true, "c": [], "d": {}}', F),
    (sized(4087), F),
    ('{"deep": ' + nest(57) + "}", F),
    *[(text, V) for text in ('{"f": 1.5}', '{"a": [1.0]}', '{"n": 18446744073709551616}', '{"user_id": 7.0}')],
    (sized(4088), V),  # 4,096 bytes as orjson writes it, 4,097 as jsonb prints it
    ('{"deep": ' + nest(60) + "}", V),  # the body 64 levels deep
    *[(text, B) for text in ("[]", '"x"', "5", sized(4089))],
    *[('{"deep": ' + nest(k) + "}", B) for k in (61, 66)],  # 65 and 70 levels: json_too_deep
]
EXTRA = [  # a key the contract does not know, with its value
    *[(text, F) for text in (None, '"note": "x"', '"extra": 1.5', '"n": null', '"big": 18446744073709551616')],
    *[(text, F) for text in ('"Metric": "nope"', '"event_ID": 5')],  # keys are case-sensitive
    *[(text, V) for text in ('"meta": {"a": 1}', '"tags": [1]', '"deep": ' + nest(61))],
    *[('"deep": ' + nest(k), B) for k in (62, 67)],
]
FIELDS = [
    ("event_id", EVENT_ID),
    ("metric", METRIC),
    ("quantity", QUANTITY),
    ("timestamp", TIMESTAMP),
    ("resource_id", RESOURCE_ID),
    ("cost_center", COST_CENTER),
    ("properties", PROPERTIES),
    ("", EXTRA),
]
BASE_EVENT = {"event_id": '"base"', "metric": '"api_calls"', "timestamp": '"2026-11-30T10:15:00Z"'}


def render(fields: list[tuple[str, str | None]], escape_keys: bool = False, decoy: bool = False) -> str:
    """Return one event's JSON text from (key, value text) pairs; a None value leaves the key out."""

    def key(name: str) -> str:
        return f'"\\u{ord(name[0]):04x}{name[1:]}"' if escape_keys else f'"{name}"'

    pairs = ['"metric": "nope"'] if decoy else []  # the later "metric" wins, in orjson as in jsonb
    pairs += [text if not name else f"{key(name)}: {text}" for name, text in fields if text is not None]
    return "{" + ", ".join(pairs) + "}"


def body_of(events: list[str], decoy_events: bool = False, sep: str = ", ") -> bytes:
    decoy = '"events": [{"event_id": "zz", "metric": "nope"}], ' if decoy_events else ""
    return ("{" + decoy + '"events": [' + sep.join(events) + "]}").encode()


def written(tenant_id: str) -> tuple:
    """Return what the tenant has stored, in counts (the statement's writes are seen inside its transaction)."""
    return (
        Tenant.objects.filter(id=tenant_id).exists(),
        UsageEventKey.objects.filter(tenant_id=tenant_id).count(),
        UsageEvent.objects.filter(tenant_id=tenant_id).count(),
        UsageHourly.objects.filter(tenant_id=tenant_id).count(),
    )


SNAPSHOT_SQL = {
    UsageEvent: """SELECT event_id, metric_id, quantity::text, "timestamp", resource_id, cost_center,
                   properties::text, unique_key, received_at FROM {t} WHERE tenant_id = %s ORDER BY 1""",
    UsageEventKey: 'SELECT event_id, "timestamp" FROM {t} WHERE tenant_id = %s ORDER BY 1',
    UsageRollup: """SELECT metric_id, hour, resource_id, cost_center, sum(quantity_sum)::text,
                    max(quantity_max)::text, sum(event_count) FROM {t} WHERE tenant_id = %s
                    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    UsageHourly: """SELECT metric_id, hour, sum(quantity_sum)::text, max(quantity_max)::text, sum(event_count)
                    FROM {t} WHERE tenant_id = %s GROUP BY 1, 2 ORDER BY 1, 2""",
    UsageDailyDistinct: "SELECT metric_id, day, unique_key FROM {t} WHERE tenant_id = %s ORDER BY 1, 2, 3",
    UsageDimHourly: """SELECT metric_id, hour, dims::text, quantity_sum::text, quantity_max::text, event_count
                       FROM {t} WHERE tenant_id = %s ORDER BY 1, 2, 3""",
    UsageDimRollup: """SELECT metric_id, hour, resource_id, cost_center, dims::text, quantity_sum::text,
                       quantity_max::text, event_count FROM {t} WHERE tenant_id = %s ORDER BY 1, 2, 3, 4, 5""",
    UsageLevel: """SELECT metric_id, hour, resource_id, cost_center, first_at, last_at, last_quantity::text,
                   integral::text, event_count, hour_first_at, hour_integral::text, end_of_hour,
                   cum_integral::text FROM {t} WHERE tenant_id = %s ORDER BY 1, 2, 3, 4""",
}


def snapshot(tenant_id: str) -> dict:
    """Return everything the tenant has stored, shard and ids left out (the rollups summed per key)."""
    got: dict = {}
    with connection.cursor() as cur:
        for model, sql in SNAPSHOT_SQL.items():
            cur.execute(sql.format(t=model._meta.db_table), [tenant_id])
            got[model.__name__] = cur.fetchall()
    # the properties as the jsonb column reads back (JSON values), besides their text above
    got["properties"] = list(UsageEvent.objects.filter(tenant_id=tenant_id).order_by("event_id").values_list(
        "event_id", "properties"
    ))  # fmt: skip
    return got
