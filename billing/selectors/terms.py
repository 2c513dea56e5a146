"""What prices a segment: its plan, or the subscription's price override on top of it (section 14).

`segment_terms` resolves a segment's `Terms` (base price, minimum commitment and every charge as a
pure `PricedCharge`, with its filters). Terms compare by value, so segments whose terms are equal
(an override that restates the plan's own prices) are joined before pricing and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from billing.models import Charge, OneOffCharge, Plan, PriceOverride, Subscription
from billing.pricing import ChargeFilter, ChargeSpec, OverrideSpan, Tier


@dataclass(frozen=True)
class PricedCharge:
    """A charge as the engine prices it: the metric it reads, its spec and its filters."""

    metric: str
    metric_name: str
    aggregation: str
    field: str
    spec: ChargeSpec
    filters: tuple[ChargeFilter, ...] = ()
    negotiated: bool = False


@dataclass(frozen=True)
class Terms:
    """Everything that prices one segment."""

    plan_id: str
    plan_name: str
    base_price: Decimal
    base_negotiated: bool
    minimum_amount: Decimal | None
    charges: tuple[PricedCharge, ...]


def _dec(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def spec_from_fields(fields: Mapping) -> ChargeSpec:
    """Return the pure spec of a charge given as catalog fields (a dict of strings, or a Charge's values)."""
    model = fields["model"]
    if model in ("graduated", "volume"):
        tiers = tuple(
            Tier(
                up_to=_dec(t.get("up_to")),
                unit_price=_dec(t.get("unit_price")) or Decimal(0),
                flat_fee=_dec(t.get("flat_fee")) or Decimal(0),
            )
            for t in fields.get("tiers") or []
        )
        return ChargeSpec(model=model, tiers=tiers)
    free_units = _dec(fields.get("free_units")) or Decimal(0)
    if model == "package":
        return ChargeSpec(
            model=model,
            free_units=free_units,
            package_size=_dec(fields.get("package_size")),
            package_price=_dec(fields.get("package_price")),
        )
    return ChargeSpec(model=model, unit_price=_dec(fields.get("unit_price")), free_units=free_units)


def charge_fields(charge: Charge) -> dict:
    """Return a catalog charge's pricing fields as a dict (the shape filters and overrides store)."""
    return {
        "model": charge.model,
        "unit_price": charge.unit_price,
        "free_units": charge.free_units,
        "package_size": charge.package_size,
        "package_price": charge.package_price,
        "tiers": charge.tiers,
    }


def filters_from(raw: list | None) -> tuple[ChargeFilter, ...]:
    """Return stored filters as pure ChargeFilters, in order."""
    return tuple(
        ChargeFilter(
            name=f["name"],
            properties=tuple((k, tuple(v)) for k, v in f["properties"].items()),
            spec=spec_from_fields(f),
        )
        for f in raw or []
    )


def _priced(charge: Charge, fields: Mapping, filters: list | None, plan_charge: PricedCharge | None) -> PricedCharge:
    metric = charge.metric
    priced = PricedCharge(
        metric=metric.code,
        metric_name=metric.name,
        aggregation=metric.aggregation,
        field=metric.field,
        spec=spec_from_fields(fields),
        filters=filters_from(filters),
    )
    if plan_charge is not None and (priced.spec, priced.filters) != (plan_charge.spec, plan_charge.filters):
        return PricedCharge(**{**priced.__dict__, "negotiated": True})
    return priced


def plan_terms(plan: Plan, charges: list[Charge], override: PriceOverride | None = None) -> Terms:
    """Return the terms of `plan` (its `charges` with their metrics), with `override` applied if any."""
    own = {c.metric_id: _priced(c, charge_fields(c), c.filters, None) for c in charges}
    base_price = Decimal(plan.base_price)
    priced = list(own.values())
    if override is not None:
        if override.base_price is not None:
            base_price = Decimal(override.base_price)
        named = {c["metric"]: c for c in override.charges or []}
        priced = [
            _priced(c, named[c.metric_id], named[c.metric_id].get("filters"), own[c.metric_id])
            if c.metric_id in named
            else own[c.metric_id]
            for c in charges
        ]
    return Terms(
        plan_id=plan.id,
        plan_name=plan.name,
        base_price=base_price,
        base_negotiated=base_price != Decimal(plan.base_price),
        minimum_amount=None if plan.minimum_amount is None else Decimal(plan.minimum_amount),
        charges=tuple(priced),
    )


#: Where `bill_context` leaves a subscription's price overrides (read by `subscription_overrides`).
OVERRIDES_ATTR = "price_overrides_read"


def subscription_overrides(subscription: Subscription) -> tuple[list[OverrideSpan], dict]:
    """Return the subscription's override spans and {override id: PriceOverride} (prefetched ones reused)."""
    read = getattr(subscription, OVERRIDES_ATTR, None)
    overrides = list(read) if read is not None else list(subscription.price_overrides.all())
    return [OverrideSpan(o.pk, o.started_at, o.ended_at) for o in overrides], {o.pk: o for o in overrides}


#: `prefetch_related(PENDING_ONE_OFFS)` on subscriptions saves `pending_one_offs` a query each.
PENDING_ONE_OFFS = Prefetch(
    "one_off_charges",
    queryset=OneOffCharge.objects.filter(status=OneOffCharge.Status.PENDING).order_by("created_at", "id"),
    to_attr="pending_one_offs_prefetched",
)


def pending_one_offs(subscription: Subscription) -> list[OneOffCharge]:
    """Return the subscription's pending one-off charges, oldest first (prefetched ones reused)."""
    prefetched = getattr(subscription, PENDING_ONE_OFFS.to_attr, None)
    if prefetched is not None:
        return list(prefetched)
    return list(subscription.one_off_charges.filter(status=OneOffCharge.Status.PENDING).order_by("created_at", "id"))
