"""E-mail to a tenant's `billing_email`: which events send what, and sending one message.

The dispatcher calls `emails_for_event` in the transaction that marks an event processed, so each
message is logged (an EmailMessage row, status `queued`) exactly once per event and kind before
anything is sent. `email_send` renders the plain-text and HTML parts from templates/email/,
attaches the PDF when the kind has one, and sends through Django's e-mail framework (EMAIL_URL).
An SMTP error schedules another try (EMAIL_RETRY_SCHEDULE), then the message is `failed`; the
business action that caused it committed long before and never sees the error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from billing_project.dispatch import job_queue
from billing_project.observability import metrics
from notifications.models import EmailMessage, Event

logger = logging.getLogger(__name__)
CLAIM_SECONDS = 120


def _tenant_contact(tenant_id: str | None) -> dict:
    """Return the tenant's billing e-mail, name, and whether its invoices are charged to a card."""
    from billing.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id).first() if tenant_id else None
    if tenant is None:
        return {"email": "", "name": tenant_id or "", "charge_automatically": False}
    automatic = tenant.collection_method == Tenant.CollectionMethod.CHARGE_AUTOMATICALLY
    return {
        "email": tenant.billing_email,
        "name": tenant.name or tenant.id,
        "charge_automatically": automatic and bool(tenant.default_payment_method_id),
    }


def _invoice_needs_paying_by_hand(obj: dict, contact: dict) -> bool:
    """Return whether a finalized invoice is mailed: open with an amount due that no card will pay."""
    due = Decimal(str(obj.get("amount_due") or "0"))
    return obj.get("status") == "open" and due > 0 and not contact["charge_automatically"]


def _subject(kind: str, obj: dict, event_type: str) -> str:
    number = obj.get("number") or obj.get("id", "")
    return {
        EmailMessage.Kind.INVOICE: f"Invoice {number}: {obj.get('amount_due')} {obj.get('currency')} due",
        EmailMessage.Kind.RECEIPT: f"Receipt for invoice {number}",
        EmailMessage.Kind.PAYMENT_FAILED: (
            f"Action required: payment of invoice {number}"
            if event_type == "invoice.payment_action_required"
            else f"Payment of invoice {number} failed"
        ),
        EmailMessage.Kind.CREDIT_NOTE: f"Credit note {number} for invoice {obj.get('invoice_number') or ''}".strip(),
        EmailMessage.Kind.ALERT: f"Alert triggered: {obj.get('type', '').replace('_', ' ')}",
    }[kind]


# event type -> (kind, condition on the event's object and the tenant's contact)
RULES: dict[str, tuple[str, Callable[[dict, dict], bool]]] = {
    "invoice.finalized": (EmailMessage.Kind.INVOICE, _invoice_needs_paying_by_hand),
    "invoice.paid": (EmailMessage.Kind.RECEIPT, lambda obj, contact: True),
    "invoice.payment_failed": (EmailMessage.Kind.PAYMENT_FAILED, lambda obj, contact: True),
    "invoice.payment_action_required": (EmailMessage.Kind.PAYMENT_FAILED, lambda obj, contact: True),
    "credit_note.created": (EmailMessage.Kind.CREDIT_NOTE, lambda obj, contact: True),
    "alert.triggered": (EmailMessage.Kind.ALERT, lambda obj, contact: True),
}


def emails_for_event(*, event: Event, now: datetime) -> list[EmailMessage]:
    """Return the messages `event` calls for, logged as queued (none without a billing e-mail)."""
    rule = RULES.get(event.type)
    if rule is None:
        return []
    kind, wanted = rule
    contact = _tenant_contact(event.tenant_id)
    obj = event.data.get("object") or {}
    if not contact["email"] or not wanted(obj, contact):
        return []
    message = EmailMessage(
        event=event,
        kind=kind,
        tenant_id=event.tenant_id or "",
        to=contact["email"],
        subject=_subject(kind, obj, event.type),
        context={"object": obj, "event_type": event.type, "tenant_name": contact["name"]},
        next_attempt_at=now,
    )
    EmailMessage.objects.bulk_create([message], ignore_conflicts=True)  # once per (event, kind)
    return list(EmailMessage.objects.filter(event=event, kind=kind, status=EmailMessage.Status.QUEUED, attempts=0))


def _attachment(message: EmailMessage) -> tuple[str, bytes] | None:
    """Return (filename, PDF bytes) for the kinds that carry a PDF, else None."""
    obj = message.context.get("object") or {}
    if message.kind == EmailMessage.Kind.INVOICE:
        from billing.models import Invoice
        from billing.services.invoices import invoice_pdf_bytes

        invoice = Invoice.objects.get(pk=obj["id"])
        return f"{invoice.number or invoice.pk}.pdf", invoice_pdf_bytes(invoice=invoice)
    if message.kind == EmailMessage.Kind.CREDIT_NOTE:
        from billing.models import CreditNote
        from billing.pdf.credit_note import render_credit_note_pdf

        note = CreditNote.objects.select_related("invoice").get(pk=obj["id"])
        return f"{note.number}.pdf", render_credit_note_pdf(note)
    return None


def email_build(message: EmailMessage) -> EmailMultiAlternatives:
    """Return the MIME message: plain text, an HTML alternative, and the PDF when there is one."""
    context = {**message.context, "seller": settings.BILLING_SELLER, "subject": message.subject}
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=render_to_string(f"email/{message.kind}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers={"X-Billing-Message-Id": str(message.id)},
    )
    mail.attach_alternative(render_to_string(f"email/{message.kind}.html", context), "text/html")
    attachment = _attachment(message)
    if attachment is not None:
        mail.attach(attachment[0], attachment[1], "application/pdf")
    return mail


def _claim(message_id: str, now: datetime) -> EmailMessage | None:
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = EmailMessage.objects.filter(
        free, pk=message_id, status=EmailMessage.Status.QUEUED, next_attempt_at__lte=now
    ).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    return EmailMessage.objects.get(pk=message_id) if claimed else None


def email_send(*, message_id: str) -> EmailMessage | None:
    """Return the message after one try to send it, or None when it is not due, sent or held."""
    message = _claim(message_id, timezone.now())
    if message is None:
        return None
    error = ""
    try:
        email_build(message).send(fail_silently=False)
    except Exception as exc:  # SMTP down, refused, timed out, a PDF that could not be rendered
        error = f"{type(exc).__name__}: {exc}"[:1000]
        logger.warning("e-mail %s to %s failed: %s", message.pk, message.to, error)
    now = timezone.now()
    schedule = settings.EMAIL_RETRY_SCHEDULE
    fields: dict = {"claimed_until": None, "error": error}
    if not error:
        fields.update(status=EmailMessage.Status.SENT, sent_at=now, next_attempt_at=None)
    elif message.attempts <= len(schedule):
        fields.update(next_attempt_at=now + timedelta(seconds=schedule[message.attempts - 1]))
    else:
        fields.update(status=EmailMessage.Status.FAILED, failed_at=now, next_attempt_at=None)
    EmailMessage.objects.filter(pk=message.pk).update(**fields)
    if "status" in fields:
        metrics.email_recorded(fields["status"])
    for name, value in fields.items():
        setattr(message, name, value)
    if message.status == EmailMessage.Status.QUEUED:
        job_queue("notifications.email_send", message_id=str(message.pk), countdown=schedule[message.attempts - 1])
    return message


@transaction.atomic
def email_resend(*, message: EmailMessage) -> EmailMessage:
    """Return a new queued copy of `message` (sent after commit); the original row is kept as logged."""
    copy = EmailMessage.objects.create(
        kind=message.kind,
        tenant_id=message.tenant_id,
        to=message.to,
        subject=message.subject,
        context=message.context,
        next_attempt_at=timezone.now(),
        resent_from=message,
    )
    transaction.on_commit(lambda: job_queue("notifications.email_send", message_id=str(copy.pk)))
    return copy
