"""Routes of this app under /api/v1/billing/: coupons, and a subscription's discount and credits.

`coupons/validate` and `coupons/redeem` come before the `coupons/<uuid>` routes.
"""

from django.urls import path

from coupons.api import views

urlpatterns = [
    path("coupons", views.CouponListCreateView.as_view(), name="coupon-list"),
    path("coupons/validate", views.CouponValidateView.as_view(), name="coupon-validate"),
    path("coupons/redeem", views.CouponRedeemView.as_view(), name="coupon-redeem"),
    path("coupons/<uuid:coupon_id>", views.CouponDetailView.as_view(), name="coupon-detail"),
    path("coupons/<uuid:coupon_id>/deactivate", views.CouponDeactivateView.as_view(), name="coupon-deactivate"),
    path(
        "subscriptions/<uuid:subscription_id>/discount",
        views.SubscriptionDiscountView.as_view(),
        name="subscription-discount",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/credits",
        views.SubscriptionCreditsView.as_view(),
        name="subscription-credits",
    ),
]
