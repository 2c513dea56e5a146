"""Demo data for `seed_demo`: grows with each domain; always idempotent."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from billing.models import Tenant

DEMO_TENANTS = [
    ("acme", "Acme Corp"), ("globex", "Globex Corporation"), ("initech", "Initech"),
    ("umbrella", "Umbrella Health"), ("hooli", "Hooli"), ("stark", "Stark Industries"),
    ("wayne", "Wayne Enterprises"), ("wonka", "Wonka Confectionery"), ("tyrell", "Tyrell Corp"),
    ("cyberdyne", "Cyberdyne Systems"), ("soylent", "Soylent Foods"), ("aperture", "Aperture Science"),
]
ADMIN_USER, ADMIN_PASSWORD = "finance", "finance-demo-123"


@transaction.atomic
def demo_seed(*, progress=None) -> dict:
    """Return login details after creating the demo tenants and finance user (idempotent)."""
    say = progress or (lambda m: None)
    for tid, name in DEMO_TENANTS:
        Tenant.objects.get_or_create(id=tid, defaults={"name": name, "email": f"billing@{tid}.example"})
    say(f"tenants: {len(DEMO_TENANTS)}")
    User = get_user_model()
    user, created = User.objects.get_or_create(username=ADMIN_USER, defaults={"is_staff": True, "is_superuser": True})
    if created:
        user.set_password(ADMIN_PASSWORD)
        user.save()
    say(f"finance user: {ADMIN_USER}")
    return {"admin_user": ADMIN_USER, "admin_password": ADMIN_PASSWORD}
