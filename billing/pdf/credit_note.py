"""Render a credit note as a PDF, in the invoice's style, naming the invoice it corrects."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import CreditNote
from billing.pdf.render import (
    BAND,
    BASE,
    LABEL,
    MARGIN,
    RIGHT,
    RIGHT_BOLD,
    RULE,
    SELLER,
    SMALL,
    TITLE,
    WIDTH,
    _date,
    _lines_text,
    _money,
    _p,
)

REASONS = {
    "duplicate": "Duplicate charge",
    "fraudulent": "Fraudulent charge",
    "order_change": "Order change",
    "product_unsatisfactory": "Product unsatisfactory",
    "other": "Other",
}


def _header(note: CreditNote, seller: dict) -> Table:
    invoice = note.invoice
    seller_block = [_p(escape(seller.get("name", "")), SELLER), _p(_lines_text(seller.get("address", "")), BASE)]
    if seller.get("tax_id"):
        seller_block.append(_p(f"Tax ID: {escape(seller['tax_id'])}", SMALL))
    rows = [
        ("Credit note", note.number),
        ("Issue date", _date(note.created_at)),
        ("Corrects invoice", invoice.number or str(invoice.id)),
        ("Invoice date", _date(invoice.finalized_at)),
        ("Reason", REASONS.get(note.reason, note.reason)),
        ("Currency", note.currency),
    ]
    meta = Table([[_p(label.upper(), LABEL), _p(escape(value), RIGHT)] for label, value in rows])
    table = Table([[seller_block, [_p("CREDIT NOTE", TITLE), Spacer(1, 12), meta]]], colWidths=[WIDTH * 0.5] * 2)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return table


def _amounts(note: CreditNote) -> Table:
    c = note.currency
    rows = [
        ("Subtotal", note.subtotal),
        ("Tax", note.tax),
        ("Total credited", note.total),
        ("Applied to the invoice balance", note.applied_amount),
        ("Refunded to the original payment method", note.refund_amount),
        ("Granted as account credit", note.credit_amount),
    ]
    data = [
        [_p(label, RIGHT_BOLD if label == "Total credited" else RIGHT), _p(f"{c} {_money(v, c)}", RIGHT)]
        for label, v in rows
    ]
    table = Table(data, colWidths=[WIDTH - 45 * 2.83, 45 * 2.83])
    table.setStyle(TableStyle([("LINEABOVE", (0, 2), (-1, 2), 0.8, RULE), ("BACKGROUND", (0, 2), (-1, 2), BAND)]))
    return table


def render_credit_note_pdf(note: CreditNote) -> bytes:
    """Return the credit note rendered as PDF bytes."""
    seller = dict(settings.BILLING_SELLER)
    tenant = note.invoice.tenant
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN, title=note.number, invariant=1
    )
    customer = [f"<b>{escape(tenant.name or tenant.id)}</b>", f"Account: {escape(tenant.id)}"]
    if tenant.address:
        customer.append(_lines_text(tenant.address))
    story = [
        _header(note, seller),
        Spacer(1, 24),
        _p("CREDIT TO", LABEL),
        _p("<br/>".join(customer), BASE),
        Spacer(1, 18),
        _amounts(note),
    ]
    if note.memo:
        story += [Spacer(1, 14), _p("MEMO", LABEL), _p(_lines_text(note.memo), BASE)]
    doc.build(story)
    return buffer.getvalue()
