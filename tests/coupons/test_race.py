"""max_redemptions holds under concurrency: 20 tenants redeem a 5-use coupon at once, exactly 5 win."""

import threading

import pytest
from django.db import connection

from billing.models import Discount
from coupons.models import Coupon, CouponRedemption
from coupons.services.redemptions import CouponInvalid, coupon_redeem

from .conftest import make_subscription


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_redemptions_of_a_five_use_coupon(make_coupon):
    tenants = [f"racer-{i:02d}" for i in range(20)]
    for t in tenants:
        make_subscription(t)
    make_coupon("RUSH", percent_off="50", max_redemptions=5)

    barrier = threading.Barrier(len(tenants))
    wins, losses, errors = [], [], []
    lock = threading.Lock()

    def redeem(tenant_id: str) -> None:
        try:
            barrier.wait(timeout=30)
            coupon_redeem(code="rush", tenant_id=tenant_id)
            with lock:
                wins.append(tenant_id)
        except CouponInvalid as exc:
            with lock:
                losses.append(exc.reason)
        except Exception as exc:  # noqa: BLE001 - any other failure is a bug the test must report
            with lock:
                errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(t,)) for t in tenants]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)

    assert errors == []
    assert len(wins) == 5
    assert losses == ["max_redemptions_reached"] * 15
    coupon = Coupon.objects.get(code="RUSH")
    assert coupon.times_redeemed == 5
    assert CouponRedemption.objects.filter(coupon=coupon).count() == 5
    assert set(CouponRedemption.objects.values_list("tenant_id", flat=True)) == set(wins)
    assert Discount.objects.filter(coupon=coupon, active=True).count() == 5
