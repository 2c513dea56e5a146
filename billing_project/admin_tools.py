"""Pieces every app's admin shares: read-only inlines, and service errors shown on a form."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from rest_framework.exceptions import ValidationError as ApiValidationError


class ReadOnlyTabularInline(admin.TabularInline):
    """An inline that only shows rows the services wrote: no add, change or delete."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def api_errors_to_form(form: forms.BaseForm, exc: ApiValidationError) -> None:
    """Add the field errors of a service's 400 to `form` (dotted attrs land on their top field)."""
    detail = exc.detail if isinstance(exc.detail, dict) else {None: exc.detail}
    for attr, messages in detail.items():
        field = attr.split(".")[0] if attr else None
        if field not in form.fields:
            field = None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(field, str(message))
