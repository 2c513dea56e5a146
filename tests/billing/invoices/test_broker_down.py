"""Defect 4 of issue 12: with the broker down, a committed change answers its normal 2xx, a warning is
logged, and the side work is caught up from recoverable state (the PDF on demand, the final invoice by
the invoice run)."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal

import pytest

from billing.models import Invoice, Subscription
from billing.services.invoices import invoices_run
from tests.billing.invoices.conftest import BASE, utc
from tests.billing.invoices.test_run_worker import reset_routing

# Real commits, so the on_commit hooks run inside the request as they do when served.
pytestmark = pytest.mark.django_db(transaction=True)
JAN = utc(2026, 1, 1)


@pytest.fixture
def broker_down(monkeypatch):
    """Point the Celery app at a closed port (the broker is down), not eager; restore it afterwards."""
    from celery import _state

    from billing_project.celery import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    previous_current = _state.get_current_app()
    app.close()
    closed = f"redis://127.0.0.1:{closed_port}/0"
    monkeypatch.setenv("CELERY_BROKER_URL", closed)  # Celery reads the variable before its conf
    app.conf.broker_url, app.conf.task_always_eager = closed, False
    reset_routing(app)
    app.set_current()
    yield
    previous_current.set_current()
    app.close()
    monkeypatch.undo()
    app.conf.broker_url, app.conf.task_always_eager = saved
    reset_routing(app)


def _warnings(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_immediate_cancel_answers_200_and_the_run_invoices_the_cut_period(
    as_, sub_factory, record, clock, broker_down, caplog
):
    clock.set(JAN)
    sub = sub_factory("quit", "starter", started_at=JAN)
    record("quit", "api_calls", 8000, utc(2026, 1, 5))
    clock.set(utc(2026, 1, 16, 12))
    with caplog.at_level(logging.WARNING):
        resp = as_("tenant", "quit").post(
            f"{BASE}/subscriptions/{sub.pk}/cancel", {"at_period_end": False}, format="json"
        )
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "canceled"
    assert Subscription.objects.get(pk=sub.pk).status == "canceled"
    assert "could not queue billing.tasks.invoice_generate_final" in _warnings(caplog)
    assert not Invoice.objects.filter(tenant_id="quit").exists()  # the final invoice is late, not lost:
    summary = invoices_run(at=utc(2026, 1, 16, 13), sync=True)
    assert summary.failed == 0
    final = Invoice.objects.get(tenant_id="quit")
    assert (final.period_start, final.period_end, final.status) == (JAN, utc(2026, 1, 16, 12), "open")
    assert final.amount_due == Decimal("11.00")  # 15.5/31 of 19.00 + 3,000 calls over the free tier × 0.0005


def test_finalize_answers_200_and_the_pdf_is_rendered_on_first_download(as_, sub_factory, clock, broker_down, caplog):
    clock.set(utc(2026, 2, 10))
    sub_factory("acme", "pro", started_at=JAN)
    finance = as_("finance")
    draft = finance.post(f"{BASE}/tenants/acme/invoices", {}, format="json").json()
    with caplog.at_level(logging.WARNING):
        resp = finance.post(f"{BASE}/invoices/{draft['id']}/finalize", {}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "open"
    assert "could not queue billing.tasks.invoice_render_pdf" in _warnings(caplog)
    assert Invoice.objects.get(pk=draft["id"]).pdf is None
    pdf = as_("tenant", "acme").get(f"{BASE}/invoices/{draft['id']}/pdf", HTTP_ACCEPT="application/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert Invoice.objects.get(pk=draft["id"]).pdf is not None  # stored by that download


def test_the_invoice_run_counts_only_the_batches_it_could_queue(sub_factory, clock, broker_down):
    clock.set(utc(2026, 3, 10))
    sub_factory("late", "starter", started_at=JAN)
    summary = invoices_run(at=utc(2026, 3, 10))
    assert summary.subscriptions == 1 and summary.tasks == 0
    assert invoices_run(at=utc(2026, 3, 10), sync=True).generated == 2  # still due: the next run does it
