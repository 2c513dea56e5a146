"""One object of every kind the contract's paths name, for the fuzz run and the isolation matrix.

`build_world()` makes, through the API as finance (so every object is what a client would see),
two tenants ("acme", the owner, and "globex", the other tenant) and for acme a subscription,
usage, a draft invoice, a coupon, a cost center, a quota and an alert. `ids` maps each `:param` of
the contract's paths to acme's object. A param with no object yet is missing from `ids`: the
matrix skips its rows with the reason, until a fixture for it is added to `MAKERS` here.
"""

from __future__ import annotations

from django.db import connection

from tests.conftest import BASE, make_client

OWNER, OTHER = "acme", "globex"
ROW_DIGEST = """SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM "{table}" t"""


def _post(client, path: str, body: dict) -> dict:
    resp = client.post(f"{BASE}{path}", body, format="json")
    assert resp.status_code in (200, 201), (path, resp.status_code, resp.content[:500])
    return resp.json()


def _subscription(fin, ids) -> dict:
    from tests.coupons.conftest import make_subscription  # started 2026-01-01: ended periods to invoice

    sub = make_subscription(OWNER, "pro")
    make_subscription(OTHER, "pro")
    _post(fin, f"/tenants/{OWNER}/usage", {"event_id": "world-1", "metric": "api_calls", "quantity": "100"})
    return {"subscriptionId": str(sub.id)}


def _invoice(fin, ids) -> dict:
    return {"invoiceId": _post(fin, f"/tenants/{OWNER}/invoices", {})["id"]}


def _coupon(fin, ids) -> dict:
    body = {"code": "WORLD10", "percent_off": "10", "duration": "once"}
    return {"couponId": _post(fin, "/coupons", body)["id"]}


def _cost_center(fin, ids) -> dict:
    body = {"tenant_id": OWNER, "code": "eng", "name": "Engineering", "budget": "100.00"}
    return {"costCenterId": _post(fin, "/cost-centers", body)["id"]}


def _quota(fin, ids) -> dict:
    body = {"tenant_id": OWNER, "metric": "api_calls", "limit": "1000000", "period": "month"}
    return {"quotaId": _post(fin, "/quotas", body)["id"]}


def _alert(fin, ids) -> dict:
    body = {"type": "cost_threshold", "threshold": "1000.00"}
    return {"alertId": _post(fin, f"/realtime-cost/tenants/{OWNER}/alerts", body)["id"]}


def _one_off_charge(fin, ids) -> dict:
    body = {"description": "Onboarding", "amount": "10.00"}
    return {"chargeId": _post(fin, f"/subscriptions/{ids['subscriptionId']}/charges", body)["id"]}


def _credit_note(fin, ids) -> dict:
    """Finalize acme's invoice (it becomes open) and credit part of it."""
    _post(fin, f"/invoices/{ids['invoiceId']}/finalize", {})
    body = {"amount": "1.00", "reason": "other"}
    return {"creditNoteId": _post(fin, f"/invoices/{ids['invoiceId']}/credit-notes", body)["id"]}


def _webhook_endpoint(fin, ids) -> dict:
    body = {"url": "http://127.0.0.1:9/matrix", "tenant_id": OWNER, "event_types": ["*"]}
    return {"endpointId": _post(fin, "/webhook-endpoints", body)["id"]}


def _event(fin, ids) -> dict:
    """Return one of acme's events (the makers above recorded several, e.g. invoice.created)."""
    resp = fin.get(f"{BASE}/events", {"tenant_id": OWNER})
    assert resp.status_code == 200, resp.content
    return {"eventId": resp.json()["results"][0]["id"]}


# Each maker adds the ids of the objects it creates; new sections add theirs here.
MAKERS = [
    _subscription,
    _invoice,
    _coupon,
    _cost_center,
    _quota,
    _alert,
    _one_off_charge,
    _credit_note,
    _webhook_endpoint,
    _event,
]


def build_world() -> dict[str, str]:
    """Return {":param name": id} for acme's objects, after creating them (the catalog must be loaded)."""
    from billing.models import Tenant

    Tenant.objects.get_or_create(id=OWNER, defaults={"name": "Acme Corp"})
    Tenant.objects.get_or_create(id=OTHER, defaults={"name": "Globex"})
    fin = make_client("finance")
    ids = {"tenantId": OWNER, "planId": "pro"}
    for maker in MAKERS:
        ids.update(maker(fin, ids))
    return ids


def table_fingerprint() -> dict[str, tuple]:
    """Return {table: (row count, md5 of all rows in primary-key order)} for every table of the app."""
    result = {}
    with connection.cursor() as cur:
        for table in sorted(connection.introspection.table_names()):
            if table.startswith(("django_session", "django_admin_log")):
                continue
            cur.execute(ROW_DIGEST.format(table=table))
            result[table] = cur.fetchone()
    return result
