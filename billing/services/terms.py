"""Write a subscription's own terms: one-off charges and negotiated price overrides (section 14).

A one-off charge is `pending` until the invoice that carries it is finalized (then `invoiced`);
deleting a pending one is allowed, an invoiced one is 409. A price override takes effect when it is
set: the open override (if any) ends at that instant and the new one starts there, which cuts the
current period into segments like an immediate plan change; removing it ends it the same way.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions

from billing.models import Invoice, OneOffCharge, PriceOverride, Subscription
from billing.pricing import one_off_amount
from billing.services.catalog import CatalogError, charge_fields_validate
from billing.services.usage_dims import usage_dimensions_sync
from billing_project.errors import Conflict, NotFound, invalid

MAX_AMOUNT = Decimal(10) ** 12


class OneOffChargeInvoiced(Conflict):
    default_code = "one_off_charge_invoiced"
    default_detail = "This one-off charge is already on a finalized invoice."


class SubscriptionNotLive(Conflict):
    default_code = "subscription_canceled"
    default_detail = "The subscription is canceled."


def _live(subscription: Subscription) -> Subscription:
    locked = Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription.pk)
    if locked.status == Subscription.Status.CANCELED:
        raise SubscriptionNotLive(f"Subscription {locked.pk} is canceled.")
    return locked


@transaction.atomic
def one_off_charge_create(
    *,
    subscription: Subscription,
    description: str,
    amount: Decimal | None = None,
    quantity: Decimal | None = None,
    unit_price: Decimal | None = None,
) -> OneOffCharge:
    """Return a new pending one-off charge: `amount`, or `quantity × unit_price` rounded once."""
    subscription = _live(subscription)
    currency = subscription.currency
    if amount is not None:
        quantity, unit_price = Decimal(1), amount
    if quantity is None or unit_price is None:
        raise invalid(None, "Give either amount, or quantity and unit_price.", "required")
    charge = OneOffCharge(
        subscription=subscription,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        amount=one_off_amount(quantity=quantity, unit_price=unit_price, currency=currency),
        currency=currency,
    )
    if abs(charge.amount) >= MAX_AMOUNT:
        raise invalid("amount", "The amount is too large.", "max_value")
    charge.full_clean()
    charge.save()
    return charge


@transaction.atomic
def one_off_charge_delete(*, charge: OneOffCharge) -> None:
    """Return None after deleting a pending one-off charge (a draft carrying it is recomputed); else 409."""
    # Lock order invoice → charge, as a finalize does (it marks the charges under the invoice lock).
    drafts = Invoice.objects.select_for_update(of=("self",)).filter(
        subscription_id=charge.subscription_id, status=Invoice.Status.DRAFT
    )
    list(drafts.order_by("pk").values_list("pk", flat=True))
    locked = OneOffCharge.objects.select_for_update().filter(pk=charge.pk).first()
    if locked is None:
        raise NotFound("No such one-off charge.")
    if locked.status != OneOffCharge.Status.PENDING:
        raise OneOffChargeInvoiced(f"The one-off charge is on invoice {locked.invoice_id}; it cannot be removed.")
    subscription_id = locked.subscription_id
    locked.delete()
    from billing.services.invoices import invoice_drafts_recompute

    invoice_drafts_recompute(subscription_id=subscription_id)


def _override_charges(subscription: Subscription, raw) -> list[dict]:
    """Return the override's charges validated like the catalog's (400 naming the field)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("charges", "A list of charges is expected.")
    plan_metrics = set(subscription.plan.charges.values_list("metric_id", flat=True))
    out, seen = [], set()
    for i, c in enumerate(raw):
        metric = c.get("metric") if isinstance(c, dict) else None
        if metric not in plan_metrics:
            raise invalid(f"charges.{i}.metric", f"'{metric}' is not a charge of plan {subscription.plan_id}.")
        if metric in seen:
            raise invalid(f"charges.{i}.metric", f"'{metric}' is named twice.", "duplicate")
        seen.add(metric)
        try:
            fields = charge_fields_validate(c, f"charges.{i}")
        except CatalogError as exc:
            raise _as_400(exc.errors) from None
        out.append({"metric": metric, **fields})
    return out


def _attr(message: str) -> str:
    """Return the field a catalog message names, as an API attr: "charges.0.filters.1.tiers.0.up_to"."""
    parts = message.split(": ")
    attr = parts[0]
    if len(parts) > 2 and re.fullmatch(r"[a-z_]+(\.\d+)*(\.[a-z_]+)*", parts[1]):
        attr += "." + parts[1]
    attr = re.sub(r" \([^)]*\)", "", attr)
    return re.sub(r"\[(\d+)\]", r".\1", attr)


def _as_400(messages: list[str]) -> exceptions.ValidationError:
    """Return one 400 naming each offending field."""
    errors: dict[str, list] = {}
    for message in messages:
        errors.setdefault(_attr(message), []).append(exceptions.ErrorDetail(message, code="invalid"))
    return exceptions.ValidationError(errors)


@transaction.atomic
def price_override_set(*, subscription: Subscription, base_price=None, charges=None) -> PriceOverride:
    """Return the subscription's new override, in force from now (the previous one ends now)."""
    subscription = _live(subscription)
    if base_price is not None and base_price < 0:
        raise invalid("base_price", "A base price must not be negative.", "min_value")
    stored = _override_charges(subscription, charges)
    if base_price is None and not stored:
        raise invalid(None, "Give base_price and/or charges.", "required")
    now = timezone.now()
    PriceOverride.objects.filter(subscription=subscription, ended_at__isnull=True).update(ended_at=now)
    override = PriceOverride.objects.create(
        subscription=subscription, plan_id=subscription.plan_id, base_price=base_price, charges=stored, started_at=now
    )
    usage_dimensions_sync()  # its filters may read property keys the catalog's do not
    return override


@transaction.atomic
def price_override_remove(*, subscription: Subscription) -> None:
    """Return None after ending the subscription's override now; 404 when it has none."""
    subscription = _live(subscription)
    ended = PriceOverride.objects.filter(subscription=subscription, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
    if not ended:
        raise NotFound("The subscription has no price override.")


def one_off_charges_mark_invoiced(*, ids, invoice) -> None:
    """Mark the pending one-off charges `ids` (the ones the finalized bill carried) invoiced on `invoice`.

    A conditional UPDATE inside the finalize transaction: if one of them was deleted or invoiced
    meanwhile, the finalize is refused (409, retry) rather than billing a charge twice or a gone one.
    """
    if not ids:
        return
    marked = OneOffCharge.objects.filter(pk__in=list(ids), status=OneOffCharge.Status.PENDING).update(
        status=OneOffCharge.Status.INVOICED, invoice=invoice
    )
    if marked != len(ids):
        raise Conflict("One-off charges changed while finalizing; retry.")


def one_off_charges_return(*, invoice) -> int:
    """Return how many one-off charges of a voided `invoice` went back to `pending` (for the next invoice)."""
    return OneOffCharge.objects.filter(invoice=invoice).update(status=OneOffCharge.Status.PENDING, invoice=None)
