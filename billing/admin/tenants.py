"""Admin for tenants (billing accounts) and their user links."""
from django.contrib import admin

from billing.models import Tenant, TenantUser


class TenantUserInline(admin.TabularInline):
    model = TenantUser
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "email", "tax_rate", "stripe_customer_id", "created_at"]
    search_fields = ["id", "name", "email", "stripe_customer_id"]
    date_hierarchy = "created_at"
    inlines = [TenantUserInline]
