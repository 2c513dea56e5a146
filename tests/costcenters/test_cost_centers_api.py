"""Cost centers: CRUD, validation, roles, tenant isolation and soft delete (contract section 8)."""

import pytest

from costcenters.models import CostCenter
from costcenters.selectors.cost_centers import cost_center_codes

URL = "/api/v1/billing/cost-centers"

pytestmark = pytest.mark.django_db


def create(client, tenant_id="acme", **fields):
    body = {"tenant_id": tenant_id, "code": "eng", "name": "Engineering", **fields}
    return client.post(URL, body, format="json")


def error(response):
    return response.json()["errors"][0]


def test_tenant_creates_its_cost_center(api, tenant):
    r = create(api("tenant", "acme"), budget="1500.5", currency="usd", owner_email="cto@acme.test", description="R&D")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["tenant_id"] == "acme"
    assert body["code"] == "eng" and body["name"] == "Engineering" and body["description"] == "R&D"
    assert body["budget"] == "1500.50" and body["currency"] == "USD"
    assert body["owner_email"] == "cto@acme.test"
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")
    assert set(body) == {
        "id",
        "tenant_id",
        "code",
        "name",
        "description",
        "budget",
        "currency",
        "owner_email",
        "created_at",
        "updated_at",
    }


def test_budget_is_optional_and_shown_in_its_currency(finance, tenant):
    r = create(finance, code="ops", budget=None)
    assert r.status_code == 201 and r.json()["budget"] is None and r.json()["owner_email"] is None
    r = create(finance, code="jp", budget="120000", currency="JPY")
    assert r.status_code == 201 and r.json()["budget"] == "120000"


def test_tenant_cannot_create_for_another_tenant(api, tenant, other_tenant):
    r = create(api("tenant", "acme"), tenant_id="globex")
    assert r.status_code == 403
    assert not CostCenter.objects.exists()


def test_service_role_may_not_touch_cost_centers(service, finance, tenant):
    cc = create(finance).json()
    assert create(service).status_code == 403
    assert service.get(f"{URL}/tenants/acme").status_code == 403
    assert service.get(f"{URL}/{cc['id']}").status_code == 403
    assert service.put(f"{URL}/{cc['id']}", {"name": "x"}, format="json").status_code == 403
    assert service.delete(f"{URL}/{cc['id']}").status_code == 403


def test_anonymous_is_401(anon, tenant):
    assert anon.get(f"{URL}/tenants/acme").status_code == 401


@pytest.mark.parametrize(
    "fields, attr",
    [
        ({"code": ""}, "code"),
        ({"code": "has space"}, "code"),
        ({"name": ""}, "name"),
        ({"currency": "XYZ1"}, "currency"),
        ({"budget": "-1"}, "budget"),
        ({"budget": "10.005"}, "budget"),
        ({"budget": "abc"}, "budget"),
        ({"owner_email": "not-an-email"}, "owner_email"),
        ({"tenant_id": "bad tenant!"}, "tenant_id"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(finance, tenant, fields, attr):
    r = create(finance, **fields)
    assert r.status_code == 400, r.content
    assert error(r)["attr"] == attr


def test_code_is_unique_per_tenant_among_live_ones(finance, tenant, other_tenant):
    first = create(finance).json()
    r = create(finance)
    assert r.status_code == 409 and error(r)["code"] == "cost_center_code_taken"
    # The same code is fine for another tenant ...
    assert create(finance, tenant_id="globex").status_code == 201
    # ... and again for this tenant once the first one is deleted.
    assert finance.delete(f"{URL}/{first['id']}").status_code == 204
    assert create(finance).status_code == 201


def test_list_shows_only_live_cost_centers_of_the_tenant(api, finance, tenant, other_tenant):
    a = create(finance, code="a").json()
    create(finance, code="b")
    create(finance, tenant_id="globex", code="g")
    finance.delete(f"{URL}/{a['id']}")
    acme = api("tenant", "acme")
    r = acme.get(f"{URL}/tenants/acme")
    assert r.status_code == 200
    assert r.json()["count"] == 1 and [c["code"] for c in r.json()["results"]] == ["b"]
    assert acme.get(f"{URL}/tenants/globex").status_code == 403
    assert [c["code"] for c in finance.get(f"{URL}/tenants/globex").json()["results"]] == ["g"]


def test_get_is_scoped_to_the_callers_tenant(api, finance, tenant, other_tenant):
    theirs = create(finance, tenant_id="globex").json()
    assert api("tenant", "acme").get(f"{URL}/{theirs['id']}").status_code == 404
    assert api("tenant", "globex").get(f"{URL}/{theirs['id']}").json()["code"] == "eng"
    assert finance.get(f"{URL}/{theirs['id']}").status_code == 200
    assert finance.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 404


def test_put_changes_everything_but_the_tenant(api, tenant, other_tenant):
    acme = api("tenant", "acme")
    cc = create(acme, budget="100").json()
    r = acme.put(
        f"{URL}/{cc['id']}",
        {
            "tenant_id": "acme",
            "code": "eng2",
            "name": "Eng",
            "budget": "250.25",
            "currency": "EUR",
            "owner_email": "a@b.test",
            "description": "d",
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["code"], body["name"], body["budget"], body["currency"], body["owner_email"]) == (
        "eng2",
        "Eng",
        "250.25",
        "EUR",
        "a@b.test",
    )
    # PUT needs code and name (issue 12); optional fields left out keep their value.
    r = acme.put(f"{URL}/{cc['id']}", {"code": "eng2", "name": "Engineering"}, format="json")
    assert r.json()["code"] == "eng2" and r.json()["budget"] == "250.25"
    r = acme.put(f"{URL}/{cc['id']}", {"tenant_id": "globex", "code": "eng2", "name": "E"}, format="json")
    assert r.status_code == 400 and error(r)["attr"] == "tenant_id"
    assert CostCenter.objects.get(pk=cc["id"]).tenant_id == "acme"


def test_put_to_a_taken_code_is_409(finance, tenant):
    create(finance, code="a")
    b = create(finance, code="b").json()
    r = finance.put(f"{URL}/{b['id']}", {"code": "a", "name": "B"}, format="json")
    assert r.status_code == 409 and error(r)["code"] == "cost_center_code_taken"


def test_put_and_delete_of_another_tenants_cost_center_are_404(api, finance, tenant, other_tenant):
    theirs = create(finance, tenant_id="globex").json()
    acme = api("tenant", "acme")
    assert acme.put(f"{URL}/{theirs['id']}", {"name": "x"}, format="json").status_code == 404
    assert acme.delete(f"{URL}/{theirs['id']}").status_code == 404
    assert CostCenter.objects.get(pk=theirs["id"]).deleted_at is None


def test_delete_is_soft_and_hides_the_cost_center(api, tenant):
    acme = api("tenant", "acme")
    cc = create(acme).json()
    assert cost_center_codes(tenant_id="acme") == {"eng"}
    assert acme.delete(f"{URL}/{cc['id']}").status_code == 204
    assert acme.get(f"{URL}/{cc['id']}").status_code == 404
    assert acme.put(f"{URL}/{cc['id']}", {"name": "x"}, format="json").status_code == 404
    assert acme.delete(f"{URL}/{cc['id']}").status_code == 404
    row = CostCenter.objects.get(pk=cc["id"])
    assert row.deleted_at is not None and row.code == "eng"
    assert cost_center_codes(tenant_id="acme") == set()


def test_usage_may_name_a_live_cost_center_and_history_survives_deletion(api, finance, tenant, catalog):
    acme = api("tenant", "acme")
    cc = create(acme).json()
    r = acme.post(
        "/api/v1/billing/tenants/acme/usage",
        {"event_id": "e1", "metric": "api_calls", "quantity": 5, "cost_center": "eng"},
        format="json",
    )
    assert r.status_code == 201, r.content
    acme.delete(f"{URL}/{cc['id']}")
    r = acme.post(
        "/api/v1/billing/tenants/acme/usage",
        {"event_id": "e2", "metric": "api_calls", "quantity": 5, "cost_center": "eng"},
        format="json",
    )
    assert r.status_code == 400 and error(r)["attr"] == "cost_center"
    summary = acme.get("/api/v1/billing/tenants/acme/usage/summary?group_by=cost_center&metric=api_calls").json()
    assert [(row["cost_center"], row["quantity"]) for row in summary["results"]] == [("eng", "5")]
