"""The billing app's routes under /api/v1/billing/, one module per area."""

from billing.api import (
    billing_settings,
    calculations,
    credit_notes,
    discounts,
    invoices,
    payments,
    plans,
    stripe,
    subscriptions,
    terms,
    usage,
)

urlpatterns = [
    *plans.urlpatterns,
    *usage.urlpatterns,
    *subscriptions.urlpatterns,
    *discounts.urlpatterns,
    *terms.urlpatterns,
    *calculations.urlpatterns,
    *invoices.urlpatterns,
    *stripe.urlpatterns,
    *billing_settings.urlpatterns,
    *payments.urlpatterns,
    *credit_notes.urlpatterns,
]
