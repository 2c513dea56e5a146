"""The one JSON parser of the API: orjson, with the nesting depth bounded explicitly.

Every request body is parsed here, whether a view reads `request.data` (DRF calls `JSONParser`) or
parses the raw body itself (`parse_json`, the usage hot path). A body nested deeper than
`MAX_JSON_DEPTH` is a 400 `json_too_deep`: deeper documents reach recursion limits further on
(orjson refuses to re-serialise past 254 levels, Python's recursion past ~1,000), and no field of
the contract needs more than a few levels.
"""

from __future__ import annotations

import orjson
from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 64


class JsonTooDeep(exceptions.ParseError):
    default_detail = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep."
    default_code = "json_too_deep"


def json_depth_exceeds(value, limit: int = MAX_JSON_DEPTH) -> bool:
    """Return whether `value` nests objects/arrays more than `limit` levels (iterative, no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(body: bytes):
    """Return the parsed JSON `body`; raise 400 `parse_error` when malformed, `json_too_deep` when too nested."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            raise JsonTooDeep() from None
        raise exceptions.ParseError("The body is not valid JSON.") from None
    if isinstance(value, (dict, list)) and json_depth_exceeds(value):
        raise JsonTooDeep()
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, backed by `parse_json` (the API's default parser)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read() if stream is not None else b"")
