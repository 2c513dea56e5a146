"""The invoice PDF: render and store it, or serve the stored one while it is current."""

from __future__ import annotations

from django.utils import timezone

from billing.models import (
    Invoice,
)
from billing_project.errors import NotFound


def invoice_render_pdf(*, invoice_id) -> Invoice:
    """Return the invoice with its PDF rendered and stored (finalized ones; drafts render on demand)."""
    from billing.pdf.render import render_invoice_pdf

    invoice = (
        Invoice.objects.select_related("tenant", "discount_applied")
        .prefetch_related("lines")
        .filter(pk=invoice_id)
        .first()
    )
    if invoice is None:
        raise NotFound("Invoice not found.")
    pdf = render_invoice_pdf(invoice)
    if invoice.status != Invoice.Status.DRAFT:
        now = timezone.now()
        Invoice.objects.filter(pk=invoice.pk).exclude(status=Invoice.Status.DRAFT).update(pdf=pdf, pdf_rendered_at=now)
        invoice.pdf_rendered_at = now
    invoice.pdf = pdf
    return invoice


def invoice_pdf_bytes(*, invoice: Invoice) -> bytes:
    """Return the invoice's PDF: the stored one when finalized, rendered now when missing, a draft, or stale.

    A stored PDF is stale when the invoice was paid or voided after it was rendered (it would still
    show the amount as due).
    """
    changed_at = max((t for t in (invoice.paid_at, invoice.voided_at) if t is not None), default=None)
    stale = changed_at is not None and (invoice.pdf_rendered_at is None or invoice.pdf_rendered_at < changed_at)
    if invoice.status != Invoice.Status.DRAFT and invoice.pdf and not stale:
        return bytes(invoice.pdf)
    return bytes(invoice_render_pdf(invoice_id=invoice.pk).pdf)
