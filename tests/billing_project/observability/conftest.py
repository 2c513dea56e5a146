"""Scrape /metrics the way Prometheus does and read single samples out of it."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One /metrics answer, parsed: `value(name, **labels)` is the sample's value (0 when absent)."""

    def __init__(self, text: str):
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels) -> float:
        return sum(
            s.value for s in self.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )


@pytest.fixture
def scrape():
    """Return scrape() -> Scrape of GET /metrics from a loopback client."""

    def get() -> Scrape:
        response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
        assert response.status_code == 200, response.content
        return Scrape(response.content.decode())

    return get


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
