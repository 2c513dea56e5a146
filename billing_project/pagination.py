"""Limit/offset pagination: `{"count", "next", "previous", "results"}`, default 50, at most 500.

`limit` and `offset` are strict: a value that is not a plain non-negative integer (`-5`, `true`,
`1e3`), a zero limit, or an offset beyond `MAX_OFFSET` is a 400 naming the parameter, not silently
the default. A limit above 500 is clamped to 500 (the contract's maximum).
"""

from rest_framework import pagination

from billing_project.errors import invalid

MAX_OFFSET = 2**31 - 1


def _non_negative_int(request, name: str, maximum: int) -> int | None:
    """Return the query parameter `name` as an int in [0, maximum], None when absent; else raise 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) > maximum:
        raise invalid(name, f"'{raw[:32]}' is not an integer from 0 to {maximum}.", "invalid")
    return int(raw)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 500

    def get_limit(self, request):
        limit = _non_negative_int(request, self.limit_query_param, 10**12)
        if limit is None:
            return self.default_limit
        if limit == 0:
            raise invalid(self.limit_query_param, "limit is at least 1.", "invalid")
        return min(limit, self.max_limit)

    def get_offset(self, request):
        return _non_negative_int(request, self.offset_query_param, MAX_OFFSET) or 0
