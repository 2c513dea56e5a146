"""Finance back office for coupons: redemptions inline, times redeemed read-only, a deactivate action."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from rest_framework.exceptions import ValidationError as ApiValidationError

from billing_project.admin_tools import ReadOnlyTabularInline, api_errors_to_form
from coupons.models import Coupon, CouponRedemption
from coupons.selectors.coupons import coupon_by_code
from coupons.services.coupons import coupon_deactivate, coupon_terms_validate


class CouponAdminForm(forms.ModelForm):
    class Meta:
        model = Coupon
        fields = "__all__"  # noqa: DJ007 - the admin edits every coupon column; clean() adds the cross-field rules

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        amount_off = data.get("amount_off")
        data["currency"] = (data.get("currency") or "").upper() if amount_off is not None else ""
        if data.get("duration") != Coupon.Duration.REPEATING:
            data["duration_in_periods"] = None
        try:
            coupon_terms_validate(
                code=data.get("code") or "",
                percent_off=data.get("percent_off"),
                amount_off=amount_off,
                currency=data["currency"],
                duration=data.get("duration"),
                duration_in_periods=data.get("duration_in_periods"),
                max_redemptions=data.get("max_redemptions"),
                applies_to_plans=list(data.get("applies_to_plans") or []),
            )
        except ApiValidationError as exc:
            api_errors_to_form(self, exc)
            return data
        same = coupon_by_code(code=data["code"])
        if same is not None and same.pk != self.instance.pk:
            self.add_error("code", f"The code is taken by '{same.code}' (codes are case-insensitive).")
        return data


class CouponRedemptionInline(ReadOnlyTabularInline):
    model = CouponRedemption
    fields = ["tenant", "subscription", "created_at"]
    readonly_fields = fields


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    form = CouponAdminForm
    list_display = [
        "code",
        "name",
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "times_redeemed",
        "max_redemptions",
        "redeem_by",
        "active",
        "created_at",
    ]
    list_filter = ["active", "duration", "currency"]
    search_fields = ["code", "name"]
    readonly_fields = ["times_redeemed", "created_at"]
    inlines = [CouponRedemptionInline]
    actions = ["deactivate"]

    @admin.action(description="Deactivate selected coupons (no further redemptions)")
    def deactivate(self, request, queryset):
        n = 0
        for coupon in queryset.filter(active=True).order_by("pk"):
            coupon_deactivate(coupon=coupon)
            n += 1
        self.message_user(request, f"Deactivated {n} coupon(s).")
