"""Admin inlines for a subscription's own terms: one-off charges and price overrides.

New rows and deletions go through the services (`one_off_charge_create`/`_delete`,
`price_override_set`), never straight to the table: `terms_save_formset` routes them.
"""

from __future__ import annotations

from django.contrib import admin, messages
from rest_framework.exceptions import APIException

from billing.models import OneOffCharge, PriceOverride
from billing.services.terms import one_off_charge_create, one_off_charge_delete, price_override_set


class OneOffChargeInline(admin.TabularInline):
    model = OneOffCharge
    extra = 0
    fields = ["description", "quantity", "unit_price", "amount", "status", "invoice", "created_at"]
    readonly_fields = ["amount", "status", "invoice", "created_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # existing charges show read-only; add new ones, or delete pending ones


class PriceOverrideInline(admin.TabularInline):
    model = PriceOverride
    extra = 0
    can_delete = False
    fields = ["base_price", "charges", "plan_id", "started_at", "ended_at"]
    readonly_fields = ["plan_id", "started_at", "ended_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a new override ends the one in force; history stays


def terms_save_formset(request, subscription, formset) -> bool:
    """Return True when `formset` was one of these inlines and its changes went through the services."""
    if formset.model not in (OneOffCharge, PriceOverride):
        return False
    formset.save(commit=False)
    try:
        for obj in formset.deleted_objects:
            if isinstance(obj, OneOffCharge):
                one_off_charge_delete(charge=obj)
        saved: list = []
        for obj in formset.new_objects:
            if isinstance(obj, OneOffCharge):
                saved.append(
                    one_off_charge_create(
                        subscription=subscription,
                        description=obj.description,
                        quantity=obj.quantity,
                        unit_price=obj.unit_price,
                    )
                )
            else:
                saved.append(
                    price_override_set(
                        subscription=subscription, base_price=obj.base_price, charges=obj.charges or None
                    )
                )
        formset.new_objects = saved  # the admin's change message names what the services stored
    except APIException as exc:
        messages.error(request, f"Not saved: {exc.detail}")
        formset.new_objects, formset.deleted_objects = [], []
    return True
