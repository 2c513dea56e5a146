"""The one JSON parser of the API: orjson, with the nesting depth bounded explicitly.

Every request body is parsed here, whether a view reads `request.data` (DRF calls `JSONParser`) or
parses the raw body itself (`parse_json`, the usage hot path). A body nested deeper than
`MAX_JSON_DEPTH` is a 400 `json_too_deep`: deeper documents reach recursion limits further on
(orjson refuses to re-serialise past 254 levels, Python's recursion past ~1,000), and no field of
the contract needs more than a few levels. A string (or key) holding a NUL character is a 400
`null_characters_not_allowed` naming where it is: PostgreSQL cannot store NUL in text or jsonb.
"""

from __future__ import annotations

import orjson
from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 64


class JsonTooDeep(exceptions.ParseError):
    default_detail = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."
    default_code = "json_too_deep"


def json_depth_exceeds(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return whether `value` nests objects/arrays more than `limit` levels (level by level, no recursion)."""
    containers = (dict, list)
    level = [value] if isinstance(value, containers) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, containers)
        ]
    return False


def parse_json(body: bytes, check_depth: bool = True):
    """Return the parsed JSON `body`; raise 400 `parse_error` when malformed, `json_too_deep` when too nested.

    `check_depth=False` leaves the depth to the caller (orjson itself stops at 1,024 levels).
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            raise JsonTooDeep() from None
        raise exceptions.ParseError("The body is not valid JSON.") from None
    if check_depth and isinstance(value, (dict, list)) and json_depth_exceeds(value):
        raise JsonTooDeep()
    if b"\\u0000" in body:  # cheap pre-check: only a body with an escaped NUL is walked
        path = nul_path(value)
        if path is not None:
            raise exceptions.ValidationError(
                {path or "non_field_errors": [exceptions.ErrorDetail(NUL_DETAIL, code="null_characters_not_allowed")]}
            )
    return value


NUL_DETAIL = "NUL characters are not allowed (PostgreSQL cannot store them in text)."


def nul_path(value) -> str | None:
    """Return the dotted path ("events.3.metric") of the first string or key holding a NUL, else None."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return path
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return child_path
                stack.append((child, child_path))
        elif isinstance(node, list):
            stack.extend((child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(node))
    return None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, backed by `parse_json` (the API's default parser)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read() if stream is not None else b"")
