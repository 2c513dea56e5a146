"""Admin for credit grants: finance grants credits on a subscription; what is left is read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils import timezone
from rest_framework.exceptions import ValidationError as ApiValidationError

from billing.models import CreditApplication, CreditGrant
from billing.services.credits import credit_grant_create, credit_grant_validate
from billing_project.admin_tools import ReadOnlyTabularInline, api_errors_to_form


class CreditGrantAddForm(forms.ModelForm):
    """Adding a grant: the subscription fixes tenant and currency; the whole amount remains."""

    class Meta:
        model = CreditGrant
        fields = ["subscription", "amount", "reason", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subscription"].required = True

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            credit_grant_validate(
                subscription=data["subscription"],
                amount=data["amount"],
                expires_at=data.get("expires_at"),
                now=timezone.now(),
            )
        except ApiValidationError as exc:
            api_errors_to_form(self, exc)
        return data


class CreditApplicationInline(ReadOnlyTabularInline):
    model = CreditApplication
    fields = ["invoice", "amount", "restored_at"]
    readonly_fields = fields


@admin.register(CreditGrant)
class CreditGrantAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "amount", "remaining", "currency", "reason", "expires_at", "created_at"]
    list_filter = ["currency"]
    search_fields = ["tenant__id", "reason"]
    inlines = [CreditApplicationInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CreditGrantAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["subscription", "amount", "reason", "expires_at"]
        return ["tenant", "subscription", "amount", "remaining", "currency", "reason", "expires_at", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        # Amounts and ownership are history once granted; only the note and the expiry stay editable.
        return ["tenant", "subscription", "amount", "remaining", "currency", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        grant = credit_grant_create(
            subscription=form.cleaned_data["subscription"],
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data.get("reason") or "",
            expires_at=form.cleaned_data.get("expires_at"),
        )
        # The admin goes on with `obj` (log entry, redirect): make it the saved grant.
        obj.__dict__.update({k: v for k, v in grant.__dict__.items() if k != "_state"})
        obj._state.adding = False
        obj._state.db = grant._state.db
