"""Render an invoice as a PDF a customer would accept (reportlab platypus, built-in fonts).

Seller and customer blocks, number and dates, every line with quantity, unit price and amount (the
tier breakdown under graduated/volume charges), the totals in contract order and the amount due.
Drafts carry a large "DRAFT" watermark and no number.
"""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from xml.sax.saxutils import escape

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Invoice
from billing_project.fields import plain_decimal
from billing_project.money import minor_unit, quantize

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#616e7c")
RULE = colors.HexColor("#cbd2d9")
BAND = colors.HexColor("#f0f4f8")
ACCENT = colors.HexColor("#243b53")

BASE = ParagraphStyle("base", fontName="Helvetica", fontSize=9, leading=12, textColor=INK)
SMALL = ParagraphStyle("small", parent=BASE, fontSize=8, leading=10, textColor=MUTED)
LABEL = ParagraphStyle("label", parent=BASE, fontName="Helvetica-Bold", fontSize=7.5, leading=10, textColor=MUTED)
TITLE = ParagraphStyle(
    "title", parent=BASE, fontName="Helvetica-Bold", fontSize=22, leading=26, textColor=ACCENT, alignment=TA_RIGHT
)
SELLER = ParagraphStyle("seller", parent=BASE, fontName="Helvetica-Bold", fontSize=14, leading=18, textColor=ACCENT)
RIGHT = ParagraphStyle("right", parent=BASE, alignment=TA_RIGHT)
RIGHT_BOLD = ParagraphStyle("right_bold", parent=RIGHT, fontName="Helvetica-Bold")
TIER = ParagraphStyle("tier", parent=SMALL, leftIndent=10)
TIER_RIGHT = ParagraphStyle("tier_right", parent=SMALL, alignment=TA_RIGHT)

MARGIN = 18 * mm
WIDTH = A4[0] - 2 * MARGIN


def _balance(invoice: Invoice):
    """Return what is still to pay: amount due less paid and credit notes applied, never below zero."""
    return invoice.amount_remaining


def _money(amount, currency: str) -> str:
    """Return `amount` with thousands separators and the currency's minor-unit places."""
    return format(quantize(Decimal(amount), currency), ",f")


def _qty(value) -> str:
    """Return a quantity with thousands separators and no needless zeros."""
    text = plain_decimal(Decimal(value))
    whole, _, frac = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = f"{int(whole.lstrip('-') or '0'):,}"
    return sign + whole + (f".{frac}" if frac else "")


def _price(value, currency: str) -> str:
    """Return a unit price with at least the currency's minor-unit places (49.00, 0.10, 0.0004)."""
    value = Decimal(value)
    places = max(minor_unit(currency), -Decimal(plain_decimal(value)).as_tuple().exponent)
    return format(value.quantize(Decimal(1).scaleb(-places)), ",f")


def _date(value: datetime | None) -> str:
    return value.strftime("%d %b %Y") if value else "—"


def _instant(value: datetime) -> str:
    """Return a period bound: the date alone at midnight UTC, else date and time."""
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.strftime("%d %b %Y")
    return value.strftime("%d %b %Y %H:%M UTC")


def _p(text: str, style: ParagraphStyle = BASE) -> Paragraph:
    return Paragraph(text, style)


def _lines_text(text: str) -> str:
    return "<br/>".join(escape(line) for line in str(text).splitlines() if line.strip())


def _header(invoice: Invoice, seller: dict) -> Table:
    is_draft = invoice.status == Invoice.Status.DRAFT
    seller_block = [_p(escape(seller.get("name", "")), SELLER), _p(_lines_text(seller.get("address", "")), BASE)]
    contact = [escape(x) for x in (seller.get("email"),) if x]
    if seller.get("tax_id"):
        contact.append(f"Tax ID: {escape(seller['tax_id'])}")
    if contact:
        seller_block.append(_p("<br/>".join(contact), SMALL))
    title = "DRAFT INVOICE" if is_draft else "INVOICE"
    if invoice.status in (Invoice.Status.VOID, Invoice.Status.UNCOLLECTIBLE, Invoice.Status.PAID):
        title = f"INVOICE — {invoice.status.upper()}"
    issue = invoice.finalized_at or invoice.created_at
    rows = [
        ("Invoice number", invoice.number or "Not yet assigned"),
        ("Issue date", _date(issue) if not is_draft else f"{_date(issue)} (draft)"),
        ("Due date", _date(invoice.due_at) if invoice.due_at else "On finalization"),
        ("Billing period", f"{_instant(invoice.period_start)} – {_instant(invoice.period_end)}"),
        ("Currency", invoice.currency),
    ]
    if invoice.paid_at:
        rows.append(("Paid on", _date(invoice.paid_at)))
    if invoice.voided_at:
        rows.append(("Voided on", _date(invoice.voided_at)))
    meta = Table(
        [[_p(label.upper(), LABEL), _p(escape(value), RIGHT)] for label, value in rows],
        colWidths=[32 * mm, 58 * mm],
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        ),
    )
    right = [_p(title, TITLE), Spacer(1, 4 * mm), meta]
    table = Table([[seller_block, right]], colWidths=[WIDTH - 92 * mm, 92 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return table


def _bill_to(invoice: Invoice) -> Table:
    tenant = invoice.tenant
    parts = [f"<b>{escape(tenant.name or tenant.id)}</b>", f"Account: {escape(tenant.id)}"]
    if tenant.address:
        parts.append(_lines_text(tenant.address))
    if tenant.email:
        parts.append(escape(tenant.email))
    block = [_p("BILL TO", LABEL), _p("<br/>".join(parts), BASE)]
    settled = invoice.amount_paid or invoice.amount_credit_applied
    label, shown = ("BALANCE DUE", _balance(invoice)) if settled else ("AMOUNT DUE", invoice.amount_due)
    pay = [
        _p(label, LABEL),
        _p(f"<font size=16><b>{escape(invoice.currency)} {_money(shown, invoice.currency)}</b></font>", BASE),
    ]
    if invoice.due_at and invoice.status == Invoice.Status.OPEN:
        pay.append(Spacer(1, 2 * mm))
        pay.append(_p(f"Due {_date(invoice.due_at)}", SMALL))
    table = Table([[block, pay]], colWidths=[WIDTH - 70 * mm, 70 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (1, 0), (1, 0), BAND),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
                ("LEFTPADDING", (1, 0), (1, 0), 8),
                ("TOPPADDING", (1, 0), (1, 0), 6),
                ("BOTTOMPADDING", (1, 0), (1, 0), 8),
            ]
        )
    )
    return table


def _lines_table(invoice: Invoice) -> Table:
    cur = invoice.currency
    rows: list[list] = [
        [
            _p("<b>Description</b>"),
            _p("<b>Quantity</b>", RIGHT),
            _p("<b>Unit price</b>", RIGHT),
            _p(f"<b>Amount ({escape(cur)})</b>", RIGHT),
        ]
    ]
    styles: list[tuple] = []
    for line in invoice.lines.all():
        description = escape(line.description)
        if (line.period_start, line.period_end) != (invoice.period_start, invoice.period_end):
            description += (
                f"<br/><font size=7.5 color='#616e7c'>{_instant(line.period_start)} – "
                f"{_instant(line.period_end)}</font>"
            )
        if line.type == "base":
            quantity = _qty(Decimal(line.quantity).quantize(Decimal("0.0001")))
        else:
            quantity = _qty(line.quantity)
        unit = _price(line.unit_price, cur) if line.unit_price is not None else ("tiered" if line.tiers else "—")
        rows.append([_p(description), _p(quantity, RIGHT), _p(unit, RIGHT), _p(_money(line.amount, cur), RIGHT)])
        styles.append(("LINEABOVE", (0, len(rows) - 1), (-1, len(rows) - 1), 0.4, RULE))
        for i, tier in enumerate(line.tiers or [], start=1):
            rows.append(
                [
                    _p(f"Tier {i}", TIER),
                    _p(_qty(tier["quantity"]), TIER_RIGHT),
                    _p(_price(tier["unit_price"], cur), TIER_RIGHT),
                    _p(_money(tier["amount"], cur), TIER_RIGHT),
                ]
            )
    if len(rows) == 1:
        rows.append([_p("No charges in this period.", SMALL), "", "", ""])
    table = Table(rows, colWidths=[WIDTH - 96 * mm, 30 * mm, 30 * mm, 36 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), BAND),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, ACCENT),
                ("LINEBELOW", (0, -1), (-1, -1), 0.8, ACCENT),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                *styles,
            ]
        )
    )
    return table


def _totals(invoice: Invoice) -> Table:
    cur = invoice.currency
    rate = Decimal(invoice.tax_rate) * 100
    rate_text = plain_decimal(rate.quantize(Decimal("0.001")))
    discount_label = "Discount"
    applied = invoice.discount_applied if invoice.discount_applied_id else None
    if applied is not None and applied.percent_off is not None:
        discount_label = f"Discount ({plain_decimal(applied.percent_off)}% off)"
    rows = [
        ("Subtotal", _money(invoice.subtotal, cur)),
        (discount_label, f"−{_money(invoice.discount, cur)}" if invoice.discount else _money(0, cur)),
        (f"Tax ({rate_text}%)", _money(invoice.tax, cur)),
        ("Total", _money(invoice.total, cur)),
        ("Credits applied", f"−{_money(invoice.credits_applied, cur)}" if invoice.credits_applied else _money(0, cur)),
    ]
    final_label, final_value = f"Amount due ({escape(cur)})", invoice.amount_due
    if invoice.amount_paid:
        # A paid invoice keeps its amount due; what is left to pay is the balance.
        rows.append(("Amount due", _money(invoice.amount_due, cur)))
        rows.append(("Amount paid", f"−{_money(invoice.amount_paid, cur)}"))
        final_label, final_value = f"Balance due ({escape(cur)})", _balance(invoice)
    data = [[_p(label, RIGHT), _p(value, RIGHT)] for label, value in rows]
    data.append([_p(f"<b>{final_label}</b>", RIGHT), _p(f"<b>{_money(final_value, cur)}</b>", RIGHT_BOLD)])
    table = Table(data, colWidths=[50 * mm, 36 * mm], hAlign="RIGHT")
    table.setStyle(
        TableStyle(
            [
                ("LINEABOVE", (0, 3), (-1, 3), 0.4, RULE),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, ACCENT),
                ("BACKGROUND", (0, -1), (-1, -1), BAND),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _notes(invoice: Invoice, seller: dict) -> list:
    notes = []
    if invoice.status == Invoice.Status.DRAFT:
        notes.append("This is a draft: amounts may change until the invoice is finalized. Do not pay.")
    elif invoice.status == Invoice.Status.OPEN and invoice.due_at:
        notes.append(
            f"Please pay {invoice.currency} {_money(invoice.amount_due, invoice.currency)} by "
            f"{_date(invoice.due_at)}, quoting {invoice.number}."
        )
    elif invoice.status == Invoice.Status.PAID:
        notes.append("Paid in full. Thank you for your business.")
    elif invoice.status == Invoice.Status.VOID:
        notes.append("This invoice has been voided and is not payable.")
    if seller.get("email"):
        notes.append(f"Questions about this invoice: {seller['email']}.")
    return [_p(escape(n), SMALL) for n in notes]


def _page_decorations(invoice: Invoice, seller: dict):
    is_draft = invoice.status == Invoice.Status.DRAFT
    void = invoice.status == Invoice.Status.VOID
    ref = invoice.number or f"Draft {invoice.id}"

    def draw(canvas, doc):
        canvas.saveState()
        if is_draft or void:
            canvas.setFont("Helvetica-Bold", 110)
            canvas.setFillColor(colors.Color(0.85, 0.2, 0.2, alpha=0.13))
            canvas.translate(A4[0] / 2, A4[1] / 2)
            canvas.rotate(40)
            canvas.drawCentredString(0, -35, "DRAFT" if is_draft else "VOID")
            canvas.rotate(-40)
            canvas.translate(-A4[0] / 2, -A4[1] / 2)
        canvas.setStrokeColor(RULE)
        canvas.line(MARGIN, 14 * mm, A4[0] - MARGIN, 14 * mm)
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 10 * mm, f"{seller.get('name', '')} · {ref}")
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()

    return draw


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """Return the invoice rendered as PDF bytes (lines and tenant are read from the invoice)."""
    seller = dict(settings.BILLING_SELLER)
    buffer = io.BytesIO()
    title = invoice.number or f"Draft invoice {invoice.id}"
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=20 * mm,
        title=title,
        author=seller.get("name", ""),
        subject=f"Invoice for {invoice.tenant_id}",
        invariant=1,
    )
    story = [
        _header(invoice, seller),
        Spacer(1, 9 * mm),
        _bill_to(invoice),
        Spacer(1, 8 * mm),
        _lines_table(invoice),
        Spacer(1, 5 * mm),
        _totals(invoice),
        Spacer(1, 8 * mm),
        *_notes(invoice, seller),
    ]
    decorate = _page_decorations(invoice, seller)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
