"""Subscription lifecycle: create, change plan, cancel, reactivate, pause, resume, and period roll-over.

Status changes go through `billing.services.transitions.subscription_transition` (a conditional
UPDATE against `Subscription.TRANSITIONS`); every action first locks the subscription row and
applies whatever fell due (`subscription_roll_period`), so it acts on the current period. The plan
and pause history (`SubscriptionPlanSpan`, `SubscriptionPause`) is what later cuts periods into
segments for billing (`billing.selectors.calculation`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Plan, PriceOverride, Subscription, SubscriptionPause, SubscriptionPlanSpan, Tenant
from billing.models.tenant import TENANT_ID_VALIDATOR
from billing.pricing import period_containing
from billing.services.transitions import SubscriptionCanceled, subscription_record_event, subscription_transition
from billing.signals import subscription_ended_now
from billing_project.errors import Conflict, invalid
from billing_project.permissions import Forbidden
from notifications.services.events import event_record

Status = Subscription.Status
LIVE_CONSTRAINT = "one_live_subscription_per_tenant"
MAX_TRIAL_DAYS = 730


class SubscriptionExists(Conflict):
    default_code = "subscription_exists"
    default_detail = "The tenant already has a subscription that is not canceled."


class SubscriptionNotPausable(Conflict):
    default_code = "subscription_not_pausable"
    default_detail = "Only an active or trialing subscription can be paused."


class SubscriptionNotPaused(Conflict):
    default_code = "subscription_not_paused"
    default_detail = "Only a paused subscription can be resumed."


class SubscriptionNotReactivatable(Conflict):
    default_code = "subscription_not_reactivatable"
    default_detail = "Only a canceled subscription or one set to cancel at period end can be reactivated."


def _plan_for(plan_id: str) -> Plan:
    """Return the active plan `plan_id`, or raise a 400 naming `plan_id`."""
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise invalid("plan_id", f"No plan '{plan_id}'.", "unknown_plan")
    if not plan.active:
        raise invalid("plan_id", f"Plan '{plan_id}' is no longer offered.", "inactive_plan")
    return plan


def _is_live_violation(exc: IntegrityError) -> bool:
    """Return whether `exc` is the one-live-subscription-per-tenant index refusing a second one."""
    return LIVE_CONSTRAINT in str(exc)


def _locked(subscription_id) -> Subscription:
    """Return the subscription re-read under a row lock (its own row only, not the joined plan)."""
    return Subscription.objects.select_for_update(of=("self",)).select_related("plan", "tenant").get(pk=subscription_id)


def _close_open_history(subscription: Subscription, at: datetime, *, spans: bool, pauses: bool) -> None:
    """End the still-open plan span and/or pause of `subscription` at `at`."""
    if spans:
        SubscriptionPlanSpan.objects.filter(subscription=subscription, end__isnull=True).update(end=at)
    if pauses:
        SubscriptionPause.objects.filter(subscription=subscription, end__isnull=True).update(end=at)


def _save(subscription: Subscription, *fields: str) -> None:
    """Save `fields` of `subscription` (and its updated_at)."""
    subscription.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def subscription_create(
    *,
    tenant_id: str,
    plan_id: str,
    start_date: datetime | None = None,
    trial_days: int | None = None,
    coupon_code: str | None = None,
    actor=None,
) -> Subscription:
    """Return a new subscription of `tenant_id` to `plan_id`, creating the billing account on first use.

    `start_date` in the past back-dates it (finance only: 403 for anyone else); periods are anchored
    on it and the current period is the one containing now. The trial (given `trial_days`, else the
    plan's) runs from the start. 409 if the tenant has a subscription that is not canceled.
    """
    now = timezone.now()
    plan, started_at, trial_end = _creation_terms(
        tenant_id=tenant_id, plan_id=plan_id, start_date=start_date, trial_days=trial_days, actor=actor, now=now
    )
    tenant, _ = Tenant.objects.get_or_create(id=tenant_id)
    existing = Subscription.objects.filter(tenant=tenant).exclude(status=Status.CANCELED).first()
    if existing is not None:
        raise SubscriptionExists(f"Tenant {tenant_id} already has subscription {existing.pk} ({existing.status}).")
    period_start, period_end = period_containing(started_at, plan.interval, now)
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(
                tenant=tenant,
                plan=plan,
                status=Status.TRIALING if trial_end is not None and trial_end > now else Status.ACTIVE,
                currency=plan.currency,
                started_at=started_at,
                current_period_start=period_start,
                current_period_end=period_end,
                trial_end=trial_end,
                invoiced_through=started_at,
            )
    except IntegrityError as exc:
        if _is_live_violation(exc):
            raise SubscriptionExists(f"Tenant {tenant_id} already has a subscription that is not canceled.") from None
        raise
    SubscriptionPlanSpan.objects.create(subscription=subscription, plan=plan, start=started_at)
    subscription.tenant = tenant
    event_record(type="subscription.created", tenant_id=tenant_id, obj=subscription)
    if coupon_code:  # the discount is a change of its own (subscription.updated)
        from coupons.services.redemptions import CouponInvalid, coupon_redeem

        try:
            coupon_redeem(code=coupon_code, tenant_id=tenant_id, subscription=subscription)
        except CouponInvalid as exc:
            raise invalid("coupon_code", str(exc.detail), getattr(exc, "reason", None) or "coupon_invalid") from None
    subscription.tenant = tenant
    return subscription


def _creation_terms(
    *, tenant_id: str, plan_id: str, start_date: datetime | None, trial_days: int | None, actor, now: datetime
) -> tuple[Plan, datetime, datetime | None]:
    """Return (plan, started_at, trial_end) of a new subscription, or raise the 400/403 its inputs earn."""
    try:
        TENANT_ID_VALIDATOR(tenant_id)
    except DjangoValidationError:
        raise invalid("tenant_id", "A tenant id is 1–64 characters of [A-Za-z0-9_.-].", "invalid_tenant_id") from None
    plan = _plan_for(plan_id)
    started_at = now if start_date is None else start_date
    if started_at > now:
        raise invalid("start_date", "start_date may not be in the future.", "start_date_in_future")
    if started_at < now and actor is not None and not actor.is_finance:
        raise Forbidden("Only finance may back-date a subscription.")
    days = plan.trial_days if trial_days is None else trial_days
    if days < 0 or days > MAX_TRIAL_DAYS:
        raise invalid("trial_days", f"trial_days must be between 0 and {MAX_TRIAL_DAYS}.", "invalid_trial_days")
    return plan, started_at, started_at + timedelta(days=days) if days > 0 else None


def _resume(subscription: Subscription, at: datetime) -> None:
    """Resume a paused subscription at `at`: back to trialing while the trial runs, else active."""
    to = Status.TRIALING if subscription.trial_end is not None and subscription.trial_end > at else Status.ACTIVE
    _close_open_history(subscription, at, spans=False, pauses=True)
    subscription_transition(
        subscription=subscription, to=to, error=SubscriptionNotPaused, paused_at=None, resume_at=None
    )


def _end(subscription: Subscription, at: datetime, *, canceled_at: datetime) -> None:
    """End `subscription` at `at`: close its plan span and any pause there, status canceled."""
    _close_open_history(subscription, at, spans=True, pauses=True)
    subscription_transition(
        subscription=subscription,
        to=Status.CANCELED,
        error=SubscriptionCanceled,
        ended_at=at,
        canceled_at=canceled_at,
        scheduled_plan=None,
        paused_at=None,
        resume_at=None,
    )


def _switch_plan(subscription: Subscription, plan: Plan, at: datetime) -> None:
    """Put `plan` in force from `at`: close the current plan span there and open one for `plan`."""
    _close_open_history(subscription, at, spans=True, pauses=False)
    # A negotiated price belongs to the plan it was negotiated on: a plan change ends it.
    PriceOverride.objects.filter(subscription=subscription, ended_at__isnull=True).update(ended_at=at)
    SubscriptionPlanSpan.objects.create(subscription=subscription, plan=plan, start=at)
    subscription.plan = plan
    subscription.scheduled_plan = None
    _save(subscription, "plan", "scheduled_plan")
    subscription_record_event(subscription=subscription)


def _next_due(subscription: Subscription, at: datetime) -> tuple[datetime, int, str] | None:
    """Return the earliest (when, order, kind) that fell due by `at`, or None."""
    if subscription.status == Status.CANCELED:
        return None
    due = []
    if subscription.status == Status.PAUSED and subscription.resume_at is not None and subscription.resume_at <= at:
        due.append((subscription.resume_at, 0, "resume"))
    if subscription.status == Status.TRIALING and subscription.trial_end is not None and subscription.trial_end <= at:
        due.append((subscription.trial_end, 1, "trial_end"))
    if subscription.current_period_end <= at and (
        subscription.cancel_at_period_end or subscription.scheduled_plan_id is not None
    ):
        due.append((subscription.current_period_end, 2, "period_end"))
    return min(due) if due else None


def subscription_is_stale(*, subscription: Subscription, at: datetime) -> bool:
    """Return whether something fell due by `at` or the stored period no longer contains `at`."""
    if subscription.status == Status.CANCELED:
        return False
    if not subscription.current_period_start <= at < subscription.current_period_end:
        return at >= subscription.current_period_end
    return _next_due(subscription, at) is not None


@dataclass
class HeldRow:
    """A subscription row the current transaction holds locked, and fields to write with its roll."""

    subscription: Subscription
    save_fields: tuple[str, ...]
    saved: bool = False


_HELD: ContextVar[HeldRow | None] = ContextVar("billing_subscription_held_row", default=None)


@contextmanager
def subscription_row_held(*, subscription: Subscription, save_fields: tuple[str, ...] = ()):
    """Return a context in which `subscription_roll_period` of this subscription reuses `subscription`.

    For a caller inside a transaction that already holds the row lock (select_for_update with its
    plan, e.g. the invoice run): the roll then neither re-reads the row nor opens a savepoint (an
    error rolls back the caller's whole transaction), and writes `save_fields` (changed in memory
    by the caller) in the same UPDATE. The context's value is the HeldRow; `.saved` tells whether
    the roll wrote them. Local to the thread/task; every other caller sees no change.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("subscription_row_held needs an enclosing transaction holding the row lock.")
    held = HeldRow(subscription, tuple(save_fields))
    token = _HELD.set(held)
    try:
        yield held
    finally:
        _HELD.reset(token)


def subscription_roll_period(*, subscription_id, at: datetime) -> Subscription:
    """Return the subscription with everything due up to `at` applied, in time order (idempotent).

    A passed `resume_at` resumes it then; a passed trial end makes it active; at a period boundary
    a scheduled plan takes over, or `cancel_at_period_end` ends it (`ended_at` = the period end).
    Then the current period becomes the one containing `at` (a canceled one keeps its last
    period; periods never move backwards for an earlier `at`). `invoiced_through` is left alone:
    the invoice run owns it (it passes it through `subscription_row_held`).
    """
    held = _HELD.get()
    if held is not None and str(held.subscription.pk) == str(subscription_id) and not held.saved:
        held.saved = True
        return subscription_roll_locked(subscription=held.subscription, at=at, save_fields=held.save_fields)
    with transaction.atomic():
        return subscription_roll_locked(subscription=_locked(subscription_id), at=at)


def subscription_roll_locked(
    *, subscription: Subscription, at: datetime, save_fields: tuple[str, ...] = ()
) -> Subscription:
    """Return `subscription` rolled up to `at` like `subscription_roll_period`, without re-reading it.

    For a caller inside its own transaction that already holds the row lock (select_for_update of
    the subscription, with its plan): no second SELECT and no savepoint. `save_fields` (fields the
    caller changed in memory, e.g. `invoiced_through`) are written in the same UPDATE as the new
    current period, or on their own when the period does not move.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("subscription_roll_locked needs an enclosing transaction holding the row lock.")
    while (due := _next_due(subscription, at)) is not None:
        when, _, kind = due
        if kind == "resume":
            _resume(subscription, when)
        elif kind == "trial_end":
            subscription_transition(subscription=subscription, to=Status.ACTIVE)
        elif subscription.cancel_at_period_end:
            _end(subscription, when, canceled_at=subscription.canceled_at or when)
        else:
            _switch_plan(subscription, subscription.scheduled_plan, when)
            # Advance one period so this boundary is not seen again; the final refresh jumps to `at`.
            subscription.current_period_start, subscription.current_period_end = period_containing(
                subscription.started_at, subscription.plan.interval, when
            )
            _save(subscription, "current_period_start", "current_period_end")
    # Periods only move forward: the invoice run may roll with the end of a period already left behind.
    if subscription.status != Status.CANCELED and at >= subscription.current_period_end:
        start, end = period_containing(subscription.started_at, subscription.plan.interval, at)
        if start > subscription.current_period_start:
            subscription.current_period_start, subscription.current_period_end = start, end
            _save(subscription, "current_period_start", "current_period_end", *save_fields)
            return subscription
    if save_fields:
        _save(subscription, *save_fields)
    return subscription


def subscription_roll_if_due(*, subscription: Subscription, at: datetime) -> Subscription:
    """Return `subscription` as of `at`: unchanged (no query) when nothing is due, else rolled."""
    if not subscription_is_stale(subscription=subscription, at=at):
        return subscription
    return subscription_roll_period(subscription_id=subscription.pk, at=at)


@transaction.atomic
def subscription_change_plan(*, subscription: Subscription, plan_id: str, effective: str = "immediate") -> Subscription:
    """Return the subscription moved to `plan_id` now (a new segment) or scheduled for the next period.

    Same currency and interval only (else 400). `period_end` sets `scheduled_plan`; asking for the
    current plan then withdraws a pending change. 409 on a canceled subscription.
    """
    now = timezone.now()
    plan = _plan_for(plan_id)
    subscription = subscription_roll_period(subscription_id=subscription.pk, at=now)
    if subscription.status == Status.CANCELED:
        raise SubscriptionCanceled("A canceled subscription cannot change plan; reactivate it first.")
    current = subscription.plan
    if plan.currency != current.currency:
        raise invalid(
            "plan_id",
            f"Plan '{plan.id}' is in {plan.currency}, the subscription in {current.currency}.",
            "currency_mismatch",
        )
    if plan.interval != current.interval:
        raise invalid(
            "plan_id",
            f"Plan '{plan.id}' bills every {plan.interval}, the subscription every {current.interval}.",
            "interval_mismatch",
        )
    if effective == "period_end":
        if plan.id == current.id and subscription.scheduled_plan_id is None:
            raise invalid("plan_id", f"The subscription is already on '{plan.id}'.", "same_plan")
        subscription.scheduled_plan = None if plan.id == current.id else plan
        _save(subscription, "scheduled_plan")
        subscription_record_event(subscription=subscription)
        return subscription
    if plan.id == current.id:
        raise invalid("plan_id", f"The subscription is already on '{plan.id}'.", "same_plan")
    _switch_plan(subscription, plan, now)
    return subscription


@transaction.atomic
def subscription_cancel(*, subscription: Subscription, at_period_end: bool = True) -> Subscription:
    """Return the subscription set to end with its period, or ended now.

    Ending now cuts the period at this instant and, once committed, sends `subscription_ended_now`
    so the invoices area issues the final invoice. 409 if it is already canceled.
    """
    now = timezone.now()
    subscription = subscription_roll_period(subscription_id=subscription.pk, at=now)
    if subscription.status == Status.CANCELED:
        raise SubscriptionCanceled("The subscription is already canceled.")
    if at_period_end:
        if not subscription.cancel_at_period_end:
            subscription.cancel_at_period_end = True
            subscription.canceled_at = now
            _save(subscription, "cancel_at_period_end", "canceled_at")
            subscription_record_event(subscription=subscription)
        return subscription
    subscription.cancel_at_period_end = False
    _save(subscription, "cancel_at_period_end")
    _end(subscription, now, canceled_at=now)
    subscription_id = subscription.pk
    transaction.on_commit(
        lambda: subscription_ended_now.send(sender=Subscription, subscription_id=subscription_id, ended_at=now)
    )
    return subscription


@transaction.atomic
def subscription_reactivate(*, subscription: Subscription) -> Subscription:
    """Return the subscription with a pending cancellation withdrawn, or a canceled one active again.

    A canceled one restarts with a new period anchored now (and no remaining trial), provided the
    tenant has no other live subscription (409). Anything else is 409.
    """
    now = timezone.now()
    subscription = subscription_roll_period(subscription_id=subscription.pk, at=now)
    if subscription.status != Status.CANCELED:
        if not subscription.cancel_at_period_end:
            raise SubscriptionNotReactivatable("The subscription is not set to cancel; nothing to reactivate.")
        subscription.cancel_at_period_end = False
        subscription.canceled_at = None
        _save(subscription, "cancel_at_period_end", "canceled_at")
        subscription_record_event(subscription=subscription)
        return subscription
    other = (
        Subscription.objects.filter(tenant_id=subscription.tenant_id)
        .exclude(status=Status.CANCELED)
        .exclude(pk=subscription.pk)
        .first()
    )
    if other is not None:
        raise SubscriptionExists(f"Tenant {subscription.tenant_id} already has subscription {other.pk}.")
    start, end = period_containing(now, subscription.plan.interval, now)
    trial_end = subscription.trial_end
    try:
        with transaction.atomic():
            subscription_transition(
                subscription=subscription,
                to=Status.ACTIVE,
                error=SubscriptionNotReactivatable,
                started_at=now,
                current_period_start=start,
                current_period_end=end,
                trial_end=None if trial_end is None else min(trial_end, now),
                ended_at=None,
                canceled_at=None,
                cancel_at_period_end=False,
                scheduled_plan=None,
                invoiced_through=start,
            )
    except IntegrityError as exc:
        if _is_live_violation(exc):
            raise SubscriptionExists(f"Tenant {subscription.tenant_id} already has a live subscription.") from None
        raise
    SubscriptionPlanSpan.objects.create(subscription=subscription, plan=subscription.plan, start=now)
    return subscription


@transaction.atomic
def subscription_pause(*, subscription: Subscription, resume_at: datetime | None = None) -> Subscription:
    """Return the subscription paused from now (optionally resuming by itself at `resume_at`).

    Only `active`/`trialing` subscriptions pause (409 otherwise); `resume_at` must be in the future.
    """
    now = timezone.now()
    if resume_at is not None and resume_at <= now:
        raise invalid("resume_at", "resume_at must be in the future.", "resume_at_in_past")
    subscription = subscription_roll_period(subscription_id=subscription.pk, at=now)
    if subscription.status not in (Status.ACTIVE, Status.TRIALING):
        raise SubscriptionNotPausable(f"The subscription is {subscription.status}; only active or trialing ones pause.")
    SubscriptionPause.objects.create(subscription=subscription, start=now)
    subscription_transition(
        subscription=subscription, to=Status.PAUSED, error=SubscriptionNotPausable, paused_at=now, resume_at=resume_at
    )
    return subscription


@transaction.atomic
def subscription_resume(*, subscription: Subscription) -> Subscription:
    """Return the paused subscription resumed now (trialing while its trial runs, else active); 409 otherwise."""
    now = timezone.now()
    subscription = subscription_roll_period(subscription_id=subscription.pk, at=now)
    if subscription.status != Status.PAUSED:
        raise SubscriptionNotPaused(f"The subscription is {subscription.status}, not paused.")
    _resume(subscription, now)
    return subscription
