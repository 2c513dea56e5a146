"""Immutability of finalized invoices: `pre_save` guards on Invoice and InvoiceLine.

Connected by `BillingConfig.ready()` (`invoice_guards_connect`), so they hold for every save in every
process, whichever modules it imported.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_save

from billing_project.errors import Conflict

from .invoice import Invoice, InvoiceLine


class InvoiceImmutable(Conflict):
    default_code = "invoice_immutable"
    default_detail = "Lines and totals of a finalized invoice cannot change."


IMMUTABLE_FIELDS = (
    "subtotal",
    "discount",
    "tax",
    "total",
    "credits_applied",
    "amount_due",
    "currency",
    "period_start",
    "period_end",
    "tax_rate",
    "number",
    "tenant_id",
    "subscription_id",
)


def invoice_line_guard(sender: type, instance: InvoiceLine, **kwargs: Any) -> None:
    """Refuse to write a line of an invoice that has left draft (lines are only deleted with drafts)."""
    status = Invoice.objects.filter(pk=instance.invoice_id).values_list("status", flat=True).first()
    if status is not None and status != Invoice.Status.DRAFT:
        raise InvoiceImmutable(f"The lines of a {status} invoice cannot change.")


def invoice_totals_guard(sender: type, instance: Invoice, **kwargs: Any) -> None:
    """Refuse a save() that would change the lines' totals or identity of a finalized invoice."""
    if instance._state.adding or kwargs.get("raw"):
        return
    update_fields = kwargs.get("update_fields")
    fields = [
        f
        for f in IMMUTABLE_FIELDS
        if update_fields is None or f.removesuffix("_id") in update_fields or f in update_fields
    ]
    if not fields:
        return
    stored = Invoice.objects.filter(pk=instance.pk).values("status", *fields).first()
    if stored is None or stored["status"] == Invoice.Status.DRAFT:
        return
    changed = [f for f in fields if stored[f] != getattr(instance, f)]
    if changed:
        label = instance.number or str(instance.id)
        raise InvoiceImmutable(f"Invoice {label} is {stored['status']}: {', '.join(changed)} cannot change.")


def invoice_guards_connect() -> None:
    """Connect the guards (idempotent: each has a dispatch_uid)."""
    pre_save.connect(invoice_line_guard, sender=InvoiceLine, dispatch_uid="billing.invoices.line_immutable_save")
    pre_save.connect(invoice_totals_guard, sender=Invoice, dispatch_uid="billing.invoices.totals_immutable")
