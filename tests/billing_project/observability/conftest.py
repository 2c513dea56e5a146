"""Capture log lines the way the JSON console handler writes them."""

from __future__ import annotations

import pytest


@pytest.fixture
def json_log():
    """Capture what the JSON-lines console handler would write; return lines() -> list of dicts."""
    import io
    import json
    import logging

    from billing_project.observability.logformat import ContextFilter, json_formatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(json_formatter())
    root, request_logger = logging.getLogger(), logging.getLogger("billing.request")
    saved = request_logger.level
    root.addHandler(handler)
    request_logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)
        request_logger.setLevel(saved)
