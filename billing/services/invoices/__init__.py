"""Invoices: generate drafts, finalize them (gapless numbers, credits, discount), void, delete, render
the PDF, and the invoice run that bills every ended period exactly once. One module per operation;
this package only re-exports them.
"""

from billing.models.invoice_guards import IMMUTABLE_FIELDS, InvoiceImmutable

from .drafts import InvoiceExists, NothingToInvoice
from .finalize import NUMBER_FORMAT, invoice_finalize
from .generate import invoice_generate, invoice_generate_for_period
from .pdf import invoice_pdf_bytes, invoice_render_pdf
from .period import PeriodResult, invoice_generate_final, invoice_grace, invoice_run_subscription
from .recompute import invoice_drafts_recompute
from .run import RUN_BATCH_JOB, RunSummary, invoice_finalize_due_draft, invoices_run, invoices_run_batch
from .void import invoice_delete_draft, invoice_mark_uncollectible, invoice_void

__all__ = [
    "IMMUTABLE_FIELDS",
    "NUMBER_FORMAT",
    "RUN_BATCH_JOB",
    "InvoiceExists",
    "InvoiceImmutable",
    "NothingToInvoice",
    "PeriodResult",
    "RunSummary",
    "invoice_delete_draft",
    "invoice_drafts_recompute",
    "invoice_finalize",
    "invoice_finalize_due_draft",
    "invoice_generate",
    "invoice_generate_final",
    "invoice_generate_for_period",
    "invoice_grace",
    "invoice_mark_uncollectible",
    "invoice_pdf_bytes",
    "invoice_render_pdf",
    "invoice_run_subscription",
    "invoice_void",
    "invoices_run",
    "invoices_run_batch",
]
