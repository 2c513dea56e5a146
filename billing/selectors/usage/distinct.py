"""Distinct values of a `unique_count` metric over a window [start, end), read from `UsageDailyDistinct`.

The table holds one row per (tenant, metric, UTC day, unique_key) seen, so the read is proportional to
distinct values per day, not to events: a whole day inside the window counts its rows, a range of
whole days counts DISTINCT unique_key over their rows. A partial day at the window's edge keeps the
day's rows that have a raw event inside the edge (one descent of the partial (tenant, metric,
unique_key, timestamp) index per row), so a window starting at 10:37:12 is still exact. Whole days
need no raw event at all, which is what lets archived months keep their distinct counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from billing.models import UsageDailyDistinct, UsageEvent

DAY = timedelta(days=1)


def split_days(start: datetime, end: datetime) -> tuple[date, date, list[tuple[date, datetime, datetime]]]:
    """Return (first whole day, end of whole days, edges) of [start, end) in UTC days.

    `edges` are (day, lo, hi) for the partial days at the window's edges: one when the window lies
    inside a single day, none when it is empty or starts and ends at midnight UTC.
    """
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return start.date(), start.date(), []
    first, last = start.date(), end.date()
    starts_at_midnight = start == day_start(first)
    whole_start = first if starts_at_midnight else first + DAY
    edges = []
    if not starts_at_midnight:
        edges.append((first, start, min(end, day_start(whole_start))))
    if end > day_start(last) and not (last == first and not starts_at_midnight):
        edges.append((last, max(start, day_start(last)), end))
    return whole_start, max(whole_start, last), edges


def day_start(day: date) -> datetime:
    """Return midnight UTC of `day`."""
    return datetime.combine(day, time(), UTC)


# NOTE: LATERAL … LIMIT 1 rather than EXISTS: the planner must probe the partial index with the row's
# unique_key (one descent per row); as a semi-join it may scan the day's events once per row instead.
_EDGE = f"""
    SELECT d.day, d.unique_key
    FROM (SELECT day, unique_key FROM {UsageDailyDistinct._meta.db_table}
          WHERE tenant_id = %s AND metric_id = %s AND day = %s) d
    CROSS JOIN LATERAL (
        SELECT 1 FROM {UsageEvent._meta.db_table} e
        WHERE e.tenant_id = %s AND e.metric_id = %s AND e.unique_key IS NOT NULL AND e.unique_key = d.unique_key
          AND e."timestamp" >= %s AND e."timestamp" < %s
        LIMIT 1) hit
"""
# A partial day from midnight to `hi` whose rest [hi, next midnight) holds no event: the day's rows are
# exactly its values (a preview's today), read without a probe per row. One snapshot decides which
# branch runs (each is guarded by the same one-time EXISTS).
_LATER = f"""(SELECT EXISTS (
    SELECT 1 FROM {UsageEvent._meta.db_table} e
    WHERE e.tenant_id = %s AND e.metric_id = %s AND e.unique_key IS NOT NULL
      AND e."timestamp" >= %s AND e."timestamp" < %s))"""
_HEAD = f"""
    SELECT day, unique_key FROM {UsageDailyDistinct._meta.db_table}
    WHERE tenant_id = %s AND metric_id = %s AND day = %s AND NOT {_LATER}
    UNION ALL
    {_EDGE} WHERE {_LATER}
"""
_WHOLE = f"""
    SELECT day, unique_key FROM {UsageDailyDistinct._meta.db_table}
    WHERE tenant_id = %s AND metric_id = %s AND day >= %s AND day < %s
"""


def _pairs_sql(tenant_id: str, code: str, start: datetime, end: datetime) -> tuple[str, list]:
    """Return (SQL selecting (day, unique_key) of the values seen in [start, end), its parameters)."""
    whole_start, whole_end, edges = split_days(start, end)
    parts, params = [], []
    if whole_start < whole_end:
        parts.append(_WHOLE)
        params += [tenant_id, code, whole_start, whole_end]
    for day, lo, hi in edges:
        edge = [tenant_id, code, day, tenant_id, code, lo, hi]
        if lo == day_start(day):
            later = [tenant_id, code, hi, day_start(day + DAY)]
            parts.append(_HEAD)
            params += [tenant_id, code, day, *later, *edge, *later]
        else:
            parts.append(_EDGE)
            params += edge
    return " UNION ALL ".join(parts), params


def distinct_per_day(cur, tenant_id: str, code: str, start: datetime, end: datetime) -> dict[datetime, int]:
    """Return {UTC day start: distinct values seen in that day's part of [start, end)} (days with any)."""
    sql, params = _pairs_sql(tenant_id, code, start, end)
    if not sql:
        return {}
    cur.execute(f"SELECT day, count(*) FROM ({sql}) p GROUP BY day", params)
    return {day_start(day): int(n) for day, n in cur.fetchall()}


def distinct_total(cur, tenant_id: str, code: str, start: datetime, end: datetime) -> int:
    """Return the number of distinct values of one unique_count metric seen in [start, end)."""
    sql, params = _pairs_sql(tenant_id, code, start, end)
    if not sql:
        return 0
    cur.execute(f"SELECT count(*) FROM (SELECT DISTINCT unique_key FROM ({sql}) p) v", params)
    return int(cur.fetchone()[0] or 0)


def distinct_first_days(cur, tenant_id: str, code: str, start: datetime, end: datetime) -> dict[date, int]:
    """Return {UTC day: values first seen that day within [start, end)} of one unique_count metric."""
    sql, params = _pairs_sql(tenant_id, code, start, end)
    if not sql:
        return {}
    cur.execute(
        f"SELECT first, count(*) FROM (SELECT min(day) AS first FROM ({sql}) p GROUP BY unique_key) f GROUP BY 1",
        params,
    )
    return {day: int(n) for day, n in cur.fetchall()}
