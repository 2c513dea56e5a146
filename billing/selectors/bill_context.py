"""Everything a subscription's bill reads besides usage, in one statement (preview and estimate).

`period_bill` reads the subscription's plan spans, pauses, price overrides and pending one-off
charges, the discount its next invoice gets, the tenant's credits, and the plans with their charges
and metrics. Through the ORM that is nine queries, each compiled in Python and a round trip of its
own, paid on every preview. `bill_context` reads them in one statement: each set of rows is a JSON
array built by PostgreSQL (numeric columns as text, so no amount passes through a float), and the
rows become model instances through the models' own field conversions, in the order the models'
`Meta.ordering` gives, so `period_bill` prices exactly what the ORM would have handed it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, models

from billing.models import (
    Charge,
    CreditGrant,
    Discount,
    Metric,
    OneOffCharge,
    Plan,
    PriceOverride,
    Subscription,
    SubscriptionPause,
    SubscriptionPlanSpan,
)
from billing.pricing import PlanSpan, Span
from billing.selectors.discounts import discount_is_exhausted
from billing.selectors.terms import OVERRIDES_ATTR, PENDING_ONE_OFFS


@dataclass(frozen=True)
class BillContext:
    """What `period_bill` reads besides usage, for one subscription (its keyword arguments)."""

    history: tuple[list[PlanSpan], list[Span]]
    plans: dict[str, tuple[Plan, list[Charge]]]
    discount: Discount | None
    credits_available: Decimal


def _row_sql(model: type[models.Model], alias: str) -> str:
    """Return a JSON array of `alias`'s concrete columns in field order (decimals as text)."""
    columns = []
    for field in model._meta.concrete_fields:
        column = f'{alias}."{field.column}"'
        columns.append(f"{column}::text" if isinstance(field, models.DecimalField) else column)
    return f"json_build_array({', '.join(columns)})"


def _instance(model: type[models.Model], values: list):
    """Return a model instance from `_row_sql`'s values, converted as the ORM converts them."""
    fields = model._meta.concrete_fields
    converted = [None if v is None else f.to_python(v) for f, v in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _list(model: type[models.Model], alias: str, where: str, order: str) -> str:
    table = model._meta.db_table
    return f"(SELECT json_agg({_row_sql(model, alias)} ORDER BY {order}) FROM {table} {alias} WHERE {where})::text"


def _context_sql() -> str:
    plan_ids = f"(SELECT plan_id FROM {SubscriptionPlanSpan._meta.db_table} WHERE subscription_id = %(s)s)"
    return f"""
    SELECT
      {_list(SubscriptionPlanSpan, "sp", "sp.subscription_id = %(s)s", "sp.start, sp.id")},
      {_list(SubscriptionPause, "pa", "pa.subscription_id = %(s)s", "pa.start, pa.id")},
      {_list(PriceOverride, "po", "po.subscription_id = %(s)s", "po.started_at, po.id")},
      {_list(OneOffCharge, "oo", "oo.subscription_id = %(s)s AND oo.status = %(pending)s", "oo.created_at, oo.id")},
      {_list(Discount, "d", "d.subscription_id = %(s)s AND d.active", "d.created_at DESC")},
      (SELECT SUM(remaining)::text FROM {CreditGrant._meta.db_table}
       WHERE tenant_id = %(t)s AND currency = %(c)s AND remaining > 0 AND (expires_at IS NULL OR expires_at > %(at)s)),
      {_list(Plan, "p", f"p.id = %(plan)s OR p.id IN {plan_ids}", "p.id")},
      (SELECT json_agg(json_build_array({_row_sql(Charge, "ch")}, {_row_sql(Metric, "m")})
                       ORDER BY ch.plan_id, ch.position, ch.id)
       FROM {Charge._meta.db_table} ch JOIN {Metric._meta.db_table} m ON m.code = ch.metric_id
       WHERE ch.plan_id = %(plan)s OR ch.plan_id IN {plan_ids})::text
    """


def _rows(text: str | None) -> list:
    return [] if text is None else json.loads(text)


def bill_context(*, subscription: Subscription, at: datetime) -> BillContext:
    """Return what the subscription's bill reads besides usage, with credits as of `at`, in one statement.

    The subscription's price overrides and pending one-off charges are attached to it the way a
    prefetch would (`subscription_overrides` and `pending_one_offs` then read no more).
    """
    params = {
        "s": subscription.pk,
        "t": subscription.tenant_id,
        "c": subscription.currency,
        "at": at,
        "plan": subscription.plan_id,
        "pending": OneOffCharge.Status.PENDING,
    }
    with connection.cursor() as cur:
        cur.execute(_context_sql(), params)
        spans, pauses, overrides, one_offs, discounts, credits, plan_rows, charge_rows = cur.fetchone()
    setattr(subscription, OVERRIDES_ATTR, [_instance(PriceOverride, r) for r in _rows(overrides)])
    setattr(subscription, PENDING_ONE_OFFS.to_attr, [_instance(OneOffCharge, r) for r in _rows(one_offs)])
    plans: dict[str, tuple[Plan, list[Charge]]] = {r[0]: (_instance(Plan, r), []) for r in _rows(plan_rows)}
    for charge_values, metric_values in _rows(charge_rows):
        charge = _instance(Charge, charge_values)
        charge.metric = _instance(Metric, metric_values)
        plans[charge.plan_id][1].append(charge)
    discount = next((_instance(Discount, r) for r in _rows(discounts)), None)
    if discount is not None and discount_is_exhausted(discount):
        discount = None
    span_rows = [_instance(SubscriptionPlanSpan, r) for r in _rows(spans)]
    pause_rows = [_instance(SubscriptionPause, r) for r in _rows(pauses)]
    return BillContext(
        history=([PlanSpan(s.plan_id, s.start, s.end) for s in span_rows], [Span(p.start, p.end) for p in pause_rows]),
        plans=plans,
        discount=discount,
        credits_available=Decimal(credits) if credits is not None else Decimal(0),
    )
