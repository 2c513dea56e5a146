"""Every invoice status change, allowed and refused, through the services."""

from __future__ import annotations

import pytest

from billing.models import Invoice
from billing.services.invoices import (
    invoice_delete_draft,
    invoice_finalize,
    invoice_generate_for_period,
    invoice_mark_uncollectible,
    invoice_void,
)
from billing.services.transitions import InvalidTransition, InvoiceNotDraft, InvoiceNotOpen, invoice_transition
from tests.billing.invoices.conftest import grant, utc

pytestmark = pytest.mark.django_db

JAN, FEB = utc(2026, 1, 1), utc(2026, 2, 1)


@pytest.fixture
def make(sub_factory, clock):
    clock.set(utc(2026, 2, 5))
    counter = {"n": 0}

    def _make(status: str) -> Invoice:
        counter["n"] += 1
        sub = sub_factory(f"t{counter['n']}", "starter", started_at=JAN)
        inv = invoice_generate_for_period(subscription=sub, period_start=JAN, period_end=FEB)
        if status == "draft":
            return inv
        if status == "paid":
            grant(sub.tenant_id, "100.00")
        inv = invoice_finalize(invoice=inv)
        if status in ("open", "paid"):
            assert inv.status == status
            return inv
        if status == "void":
            return invoice_void(invoice=inv)
        return invoice_mark_uncollectible(invoice=inv)

    return _make


def test_allowed_path_draft_open_uncollectible_paid(make):
    inv = make("uncollectible")
    assert Invoice.objects.get(pk=inv.pk).status == "uncollectible"
    invoice_transition(invoice=inv, to="paid", paid_at=utc(2026, 3, 1))
    assert Invoice.objects.get(pk=inv.pk).status == "paid"


def test_open_to_paid_and_void(make):
    inv = make("open")
    invoice_transition(invoice=inv, to="paid", amount_paid=inv.amount_due)
    stored = Invoice.objects.get(pk=inv.pk)
    assert stored.status == "paid" and stored.amount_paid == stored.amount_due
    assert Invoice.objects.get(pk=make("void").pk).status == "void"


@pytest.mark.parametrize("status", ["open", "paid", "void", "uncollectible"])
def test_finalize_and_delete_refuse_anything_but_draft(make, status):
    inv = make(status)
    with pytest.raises(InvoiceNotDraft):
        invoice_finalize(invoice=inv)
    with pytest.raises(InvoiceNotDraft):
        invoice_delete_draft(invoice=inv)
    assert Invoice.objects.get(pk=inv.pk).status == status


@pytest.mark.parametrize("status", ["draft", "paid", "void", "uncollectible"])
def test_void_and_uncollectible_refuse_anything_but_open(make, status):
    inv = make(status)
    with pytest.raises(InvoiceNotOpen):
        invoice_void(invoice=inv)
    with pytest.raises(InvoiceNotOpen):
        invoice_mark_uncollectible(invoice=inv)
    assert Invoice.objects.get(pk=inv.pk).status == status


@pytest.mark.parametrize(
    "status,to",
    [
        ("paid", "open"),
        ("void", "open"),
        ("void", "paid"),
        ("draft", "void"),
        ("uncollectible", "void"),
        ("paid", "draft"),
    ],
)
def test_transition_table_refuses(make, status, to):
    inv = make(status)
    with pytest.raises(InvalidTransition):
        invoice_transition(invoice=inv, to=to)
    assert Invoice.objects.get(pk=inv.pk).status == status


def test_stale_copy_cannot_transition(make):
    inv = make("open")
    stale = Invoice.objects.get(pk=inv.pk)
    invoice_void(invoice=inv)
    with pytest.raises(InvalidTransition):
        invoice_transition(invoice=stale, to="uncollectible")
