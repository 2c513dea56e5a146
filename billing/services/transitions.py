"""The one place status changes happen: conditional UPDATEs against the TRANSITIONS tables.

`UPDATE … WHERE id = %s AND status = <old>`: 0 rows means someone else changed it first, which is
a clear 409, never a silent double effect.
"""

from __future__ import annotations

from django.db import transaction

from billing.models import Invoice, Subscription
from billing_project.errors import Conflict
from notifications.services.events import event_record

# The events an invoice status change records (contract section 13), in order.
INVOICE_EVENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("draft", "open"): ("invoice.finalized",),
    ("draft", "paid"): ("invoice.finalized", "invoice.paid"),
    ("open", "paid"): ("invoice.paid",),
    ("uncollectible", "paid"): ("invoice.paid",),
    ("open", "void"): ("invoice.voided",),
    ("open", "uncollectible"): ("invoice.marked_uncollectible",),
}


class InvalidTransition(Conflict):
    default_code = "invalid_transition"
    default_detail = "That status change is not allowed from the current status."


class SubscriptionCanceled(Conflict):
    default_code = "subscription_canceled"
    default_detail = "The subscription is canceled."


class InvoiceNotDraft(Conflict):
    default_code = "invoice_not_draft"
    default_detail = "Only a draft invoice can do that."


class InvoiceNotOpen(Conflict):
    default_code = "invoice_not_open"
    default_detail = "Only an open invoice can do that."


@transaction.atomic
def invoice_transition(*, invoice: Invoice, to: str, error: type[Conflict] = InvalidTransition, **fields) -> Invoice:
    """Return `invoice` moved from its current status to `to`, setting `fields`, or raise `error` (409).

    The caller's in-memory status is the expected old status; a concurrent change makes this fail.
    """
    return invoice_transition_in_transaction(invoice=invoice, to=to, error=error, **fields)


def invoice_transition_in_transaction(
    *, invoice: Invoice, to: str, error: type[Conflict] = InvalidTransition, **fields
) -> Invoice:
    """Return `invoice` moved to `to` like `invoice_transition`, without a savepoint of its own.

    For callers already inside a transaction that rolls back whole on any error (the invoice run):
    the conditional UPDATE is the same, only the SAVEPOINT/RELEASE round trips are saved.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_transition_in_transaction needs an enclosing transaction.")
    old = invoice.status
    if to not in Invoice.TRANSITIONS.get(old, set()):
        raise error(f"Invoice {invoice.number or invoice.id} is {old}; it cannot become {to}.")
    updated = Invoice.objects.filter(pk=invoice.pk, status=old).update(status=to, **fields)
    if updated == 0:
        current = Invoice.objects.filter(pk=invoice.pk).values_list("status", flat=True).first()
        raise error(f"Invoice {invoice.number or invoice.id} is {current}; it cannot become {to}.")
    invoice.status = to
    for name, value in fields.items():
        setattr(invoice, name, value)
    invoice_record_events(invoice=invoice, types=INVOICE_EVENTS.get((old, to), ()))
    return invoice


def invoice_record_events(*, invoice: Invoice, types: tuple[str, ...]) -> None:
    """Record `types` about `invoice` as it now stands, in the caller's transaction."""
    if not types:
        return
    if any(hasattr(getattr(invoice, f.attname, None), "resolve_expression") for f in Invoice._meta.concrete_fields):
        invoice.refresh_from_db()  # an F() expression was written: show the stored values
    for kind in types:
        event_record(type=kind, tenant_id=invoice.tenant_id, obj=invoice)


@transaction.atomic
def subscription_transition(
    *, subscription: Subscription, to: str, error: type[Conflict] = InvalidTransition, **fields
) -> Subscription:
    """Return `subscription` moved from its current status to `to`, setting `fields`, or raise `error` (409)."""
    old = subscription.status
    if to not in Subscription.TRANSITIONS.get(old, set()):
        raise error(f"The subscription is {old}; it cannot become {to}.")
    updated = Subscription.objects.filter(pk=subscription.pk, status=old).update(status=to, **fields)
    if updated == 0:
        raise error("The subscription changed concurrently; reload and retry.")
    subscription.status = to
    for name, value in fields.items():
        setattr(subscription, name, value)
    subscription_record_event(subscription=subscription, ended=to == Subscription.Status.CANCELED)
    return subscription


def subscription_record_event(*, subscription: Subscription, ended: bool = False) -> None:
    """Record `subscription.updated` (or `subscription.canceled` when it ended) as it now stands."""
    kind = "subscription.canceled" if ended else "subscription.updated"
    event_record(type=kind, tenant_id=subscription.tenant_id, obj=subscription)
