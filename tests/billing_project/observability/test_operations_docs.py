"""docs/operations: the Grafana dashboard and the alert rules query only metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.test import Client
from prometheus_client import Counter, Histogram

from billing_project.observability import collectors, metrics

DOCS = Path(__file__).resolve().parents[3] / "docs" / "operations"
NAME = re.compile(r"\b((?:billing|django)_[a-z_]+)\b")


def _exported(scrape) -> set[str]:
    """Return every sample name /metrics can carry: ours (declared), the probes', django-prometheus's (seen)."""
    names = set(collectors.FAMILIES)
    for obj in vars(metrics).values():
        if isinstance(obj, Counter):
            names.add(obj._name + "_total")
        elif isinstance(obj, Histogram):
            names.update(obj._name + suffix for suffix in ("_bucket", "_sum", "_count"))
    Client().get("/health/live")
    names.update(s.name for s in scrape().samples)
    return names


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _rule_exprs() -> list[str]:
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_rules_query_is_exported(scrape):
    exported = _exported(scrape)
    used = {name for expr in _dashboard_exprs() + _rule_exprs() for name in NAME.findall(expr)}
    assert used, "no metric found in the docs"
    assert used - exported == set()


def test_the_three_alerts_that_need_a_person():
    rules = yaml.safe_load((DOCS / "prometheus-alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {"BillingWebhookBacklogOld", "BillingInvoiceRunFailed", "BillingPaymentFailureRateJump"}
    assert "> 3600" in alerts["BillingWebhookBacklogOld"]["expr"]


def test_the_dashboard_covers_ingest_latency_invoice_run_payments_and_webhooks():
    exprs = " ".join(_dashboard_exprs())
    for needed in (
        "billing_usage_events_total",
        "histogram_quantile(0.99, sum by (le, kind) (rate(billing_usage_ingest_duration_seconds_bucket",
        "billing_invoice_run_duration_seconds_bucket",
        "billing_payment_attempts_total",
        "billing_webhook_backlog_oldest_age_seconds",
    ):
        assert needed in exprs
