"""Pure credit-note arithmetic (contract section 12): the tax split and where the money goes.

No ORM, no clock. Amounts are Decimal in major units, already rounded to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.pricing.money import quantize


@dataclass(frozen=True)
class CreditedSoFar:
    """What the invoice's earlier credit notes already took."""

    subtotal: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class CreditNoteSplit:
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    applied_amount: Decimal
    refund_amount: Decimal
    credit_amount: Decimal


class CreditTooLarge(ValueError):
    """The credit notes would exceed the invoice total."""


class RefundTooLarge(ValueError):
    """More refund asked than was paid through Stripe and not refunded, or than is left to place."""


def split_tax(
    *, amount: Decimal, invoice_net: Decimal, invoice_tax: Decimal, so_far: CreditedSoFar, currency: str
) -> tuple[Decimal, Decimal]:
    """Return (subtotal, tax) of a credit note of `amount` (tax-inclusive) on an invoice.

    `tax` = round(amount × invoice tax / invoice total); the note that brings the credited sum to the
    total takes exactly the tax not yet credited.
    NOTE: the proportional tax is also kept within what is left of the invoice's tax and net
    (subtotal − discount), so rounding over many small notes can never push either part past the
    invoice's own and the last note's remainder is never negative.
    """
    invoice_total = invoice_net + invoice_tax
    tax_left, net_left = invoice_tax - so_far.tax, invoice_net - so_far.subtotal
    if so_far.total + amount == invoice_total:
        tax = tax_left
    elif invoice_total == 0:
        tax = Decimal(0)
    else:
        tax = quantize(amount * invoice_tax / invoice_total, currency)
        tax = min(max(tax, amount - net_left), tax_left)
    tax = quantize(tax, currency)
    return amount - tax, tax


def credit_note_split(
    *,
    amount: Decimal,
    refund_amount: Decimal,
    invoice_net: Decimal,
    invoice_tax: Decimal,
    so_far: CreditedSoFar,
    still_due: Decimal,
    refundable: Decimal,
    currency: str,
) -> CreditNoteSplit:
    """Return the credit note's parts: the tax split, then applied to what is still due, refunded, credited.

    Raises CreditTooLarge when the notes would exceed the invoice total, RefundTooLarge when
    `refund_amount` exceeds what is refundable through Stripe or what is left after applying.
    """
    invoice_total = invoice_net + invoice_tax
    if so_far.total + amount > invoice_total:
        raise CreditTooLarge(f"At most {invoice_total - so_far.total} can still be credited on this invoice.")
    subtotal, tax = split_tax(
        amount=amount, invoice_net=invoice_net, invoice_tax=invoice_tax, so_far=so_far, currency=currency
    )
    applied = min(amount, max(still_due, Decimal(0)))
    rest = amount - applied
    if refund_amount > min(rest, max(refundable, Decimal(0))):
        raise RefundTooLarge(
            f"At most {min(rest, max(refundable, Decimal(0)))} can be refunded: what was paid through Stripe "
            f"and not yet refunded ({refundable}), and not more than the part not applied to the amount due ({rest})."
        )
    return CreditNoteSplit(
        subtotal=subtotal,
        tax=tax,
        total=amount,
        applied_amount=applied,
        refund_amount=refund_amount,
        credit_amount=rest - refund_amount,
    )
