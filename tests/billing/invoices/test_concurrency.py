"""Gapless numbering and one invoice per period when requests race (real transactions, threads)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from billing.models import Invoice, InvoiceNumberSequence
from billing.services.invoices import InvoiceExists, invoice_finalize, invoice_generate, invoice_generate_for_period
from tests.billing.invoices.conftest import utc

pytestmark = pytest.mark.django_db(transaction=True)

JAN, FEB = utc(2026, 1, 1), utc(2026, 2, 1)


def run_threads(n: int, target) -> list:
    """Return what `target(i)` returned or raised in each of `n` threads started at once."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_finalizes_take_distinct_consecutive_numbers(sub_factory, clock):
    clock.set(utc(2026, 2, 3))
    drafts = []
    for i in range(8):
        sub = sub_factory(f"t{i}", "starter", started_at=JAN)
        drafts.append(invoice_generate_for_period(subscription=sub, period_start=JAN, period_end=FEB))
    results = run_threads(8, lambda i: invoice_finalize(invoice=drafts[i]).number)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(results) == [f"INV-2026-{n:06d}" for n in range(1, 9)]
    # Numbers follow finalize (commit) order.
    by_time = list(Invoice.objects.order_by("number").values_list("number", flat=True))
    assert by_time == sorted(results)
    assert InvoiceNumberSequence.objects.get(year=2026).last_number == 8


def test_rolled_back_finalize_leaves_no_gap(sub_factory, clock):
    clock.set(utc(2026, 2, 3))
    a = invoice_generate_for_period(
        subscription=sub_factory("a", "starter", started_at=JAN), period_start=JAN, period_end=FEB
    )
    b = invoice_generate_for_period(
        subscription=sub_factory("b", "starter", started_at=JAN), period_start=JAN, period_end=FEB
    )

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with transaction.atomic():
            assert invoice_finalize(invoice=a).number == "INV-2026-000001"
            raise Boom
    a.refresh_from_db()
    assert a.status == "draft" and a.number is None
    assert invoice_finalize(invoice=b).number == "INV-2026-000001"
    assert invoice_finalize(invoice=a).number == "INV-2026-000002"


def test_concurrent_finalizes_with_some_rolled_back_stay_gapless(sub_factory, clock):
    clock.set(utc(2026, 2, 3))
    drafts = [
        invoice_generate_for_period(
            subscription=sub_factory(f"r{i}", "starter", started_at=JAN), period_start=JAN, period_end=FEB
        )
        for i in range(6)
    ]

    def finalize(i: int):
        with transaction.atomic():
            number = invoice_finalize(invoice=drafts[i]).number
            if i % 2:
                raise RuntimeError(f"rolled back {number}")
        return number

    results = run_threads(6, finalize)
    committed = sorted(r for r in results if isinstance(r, str))
    assert committed == ["INV-2026-000001", "INV-2026-000002", "INV-2026-000003"]
    assert Invoice.objects.filter(status="open").count() == 3


def test_concurrent_finalize_of_the_same_draft_finalizes_once(sub_factory, clock):
    clock.set(utc(2026, 2, 3))
    draft = invoice_generate_for_period(
        subscription=sub_factory("same", "starter", started_at=JAN), period_start=JAN, period_end=FEB
    )
    results = run_threads(5, lambda i: invoice_finalize(invoice=draft).number)
    numbers = [r for r in results if isinstance(r, str)]
    assert numbers == ["INV-2026-000001"]
    assert all(getattr(r, "default_code", None) == "invoice_not_draft" for r in results if not isinstance(r, str))
    assert InvoiceNumberSequence.objects.get(year=2026).last_number == 1


def test_concurrent_generates_make_one_invoice_per_period(sub_factory, clock):
    clock.set(utc(2026, 2, 3))
    sub_factory("race", "pro", started_at=JAN)
    results = run_threads(6, lambda i: invoice_generate(tenant_id="race", period_start=JAN, period_end=FEB).pk)
    made = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(made) == 1 and len(refused) == 5
    assert all(isinstance(r, InvoiceExists) and str(made[0]) in str(r.detail) for r in refused)
    assert Invoice.objects.filter(tenant_id="race").count() == 1
