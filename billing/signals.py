"""Domain signals, so areas react to each other without reaching into each other's code.

Sent after the transaction commits (`transaction.on_commit`).
- `subscription_ended_now(subscription_id, ended_at)`: an immediate cancel cut the period; the
  invoices area queues the final invoice for [current_period_start, ended_at).
- `invoice_finalized(invoice_id)`: an invoice left draft (the PDF gets rendered).
- `usage_recorded(tenant_id)`: new usage was stored (alerts get evaluated, coalesced).
"""

from django.dispatch import Signal

subscription_ended_now = Signal()
invoice_finalized = Signal()
usage_recorded = Signal()
