"""Credit-note arithmetic (pure): any sequence of notes ties out with the invoice exactly."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing.credit_notes import CreditedSoFar, CreditTooLarge, RefundTooLarge, credit_note_split

ZERO = CreditedSoFar(Decimal(0), Decimal(0), Decimal(0))


def split(amount, *, so_far=ZERO, due="120.00", refundable="0", refund="0", net="100.00", tax="20.00"):
    return credit_note_split(
        amount=Decimal(amount),
        refund_amount=Decimal(refund),
        invoice_net=Decimal(net),
        invoice_tax=Decimal(tax),
        so_far=so_far,
        still_due=Decimal(due),
        refundable=Decimal(refundable),
        currency="USD",
    )


@pytest.mark.parametrize(
    "amount, due, refundable, refund, expected",
    [
        ("30.00", "120.00", "0", "0", ("25.00", "5.00", "30.00", "0", "0")),
        ("30.00", "10.00", "0", "0", ("25.00", "5.00", "10.00", "0", "20.00")),
        ("30.00", "0", "120.00", "30.00", ("25.00", "5.00", "0", "30.00", "0")),
        ("0.01", "0", "0", "0", ("0.01", "0.00", "0", "0", "0.01")),
    ],
)
def test_split_table(amount, due, refundable, refund, expected):
    s = split(amount, due=due, refundable=refundable, refund=refund)
    assert (s.subtotal, s.tax, s.applied_amount, s.refund_amount, s.credit_amount) == tuple(map(Decimal, expected))


def test_limits():
    with pytest.raises(CreditTooLarge):
        split("120.01")
    with pytest.raises(RefundTooLarge):
        split("30.00", due="0", refundable="20.00", refund="20.01")
    with pytest.raises(RefundTooLarge):
        split("30.00", due="20.00", refundable="100.00", refund="10.01")


@settings(max_examples=300, deadline=None)
@given(
    net=st.integers(min_value=0, max_value=10**7),
    rate=st.integers(min_value=0, max_value=100),
    cuts=st.lists(st.integers(min_value=1, max_value=10**4), min_size=1, max_size=12),
)
def test_any_sequence_of_notes_ties_out(net, rate, cuts):
    cent = Decimal("0.01")
    invoice_net = Decimal(net) * cent
    invoice_tax = (invoice_net * rate / 100).quantize(cent)
    total = invoice_net + invoice_tax
    if total == 0:
        return
    weights = sum(cuts)
    amounts = [max((total * c / weights).quantize(cent), cent) for c in cuts]
    so_far = ZERO
    for amount in amounts:
        if so_far.total + amount > total:
            amount = total - so_far.total
        if amount <= 0:
            break
        s = split(amount, so_far=so_far, due=str(total - so_far.total), net=str(invoice_net), tax=str(invoice_tax))
        assert s.subtotal >= 0 and s.tax >= 0 and s.subtotal + s.tax == s.total == amount
        assert s.applied_amount + s.refund_amount + s.credit_amount == s.total
        so_far = CreditedSoFar(so_far.subtotal + s.subtotal, so_far.tax + s.tax, so_far.total + s.total)
        assert so_far.subtotal <= invoice_net and so_far.tax <= invoice_tax
    last = total - so_far.total
    if last > 0:
        s = split(last, so_far=so_far, due=str(last), net=str(invoice_net), tax=str(invoice_tax))
        so_far = CreditedSoFar(so_far.subtotal + s.subtotal, so_far.tax + s.tax, so_far.total + s.total)
    assert (so_far.subtotal, so_far.tax, so_far.total) == (invoice_net, invoice_tax, total)
