"""Issue 12 defect 9: the served OpenAPI schema describes every error and is as strict as validation."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    """Yield the API's operations (the /health probes outside /api/ answer their own shapes)."""
    for path, ops in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            yield f"{method.upper()} {path}", op


def error_statuses(op) -> set[str]:
    return {code for code, resp in op["responses"].items() if code.startswith(("4", "5"))}


def test_every_operation_documents_its_errors_in_the_one_shape(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["type", "errors"]
    for name, op in operations(schema):
        statuses = error_statuses(op)
        assert "503" in statuses, name
        for code in statuses:
            assert op["responses"][code]["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (name, code)
        if op.get("security") and op["security"] != [{}]:
            assert {"401", "403", "429"} <= statuses, name
        if "{" in name:
            assert {"400", "404"} <= statuses, name
        if name.startswith(("POST", "PUT")):
            assert {"400", "409", "413"} <= statuses, name


def test_the_stripe_calls_document_502_and_the_token_endpoint_401_and_429(schema):
    ops = dict(operations(schema))
    assert "502" in error_statuses(ops["POST /api/v1/billing/stripe/checkout"])
    assert "502" in error_statuses(ops["POST /api/v1/billing/invoices/{invoice_id}/payment-intent"])
    assert {"401", "429"} <= error_statuses(ops["POST /api/v1/auth/token"])


def matches(schema_part: dict, value: str) -> bool:
    return re.fullmatch(schema_part["pattern"].strip("^$"), value) is not None


def test_request_shapes_are_as_strict_as_validation(schema):
    c = schema["components"]["schemas"]
    assert c["UsageBatchRequest"]["properties"]["events"]["minItems"] == 1
    assert c["UsageBatchRequest"]["properties"]["events"]["maxItems"] == 1000
    amount = c["CreditGrantRequestRequest"]["properties"]["amount"]
    assert not matches(amount, "") and not matches(amount, "-") and matches(amount, "12.50")
    budget = c["CostCenterWriteRequest"]["properties"]["budget"]
    assert not matches(budget, "-1") and matches(budget, "100.00")
    code = c["CouponCreateRequest"]["properties"]["code"]
    assert not matches(code, "0") and matches(code, "WELCOME20")


def test_nullable_columns_are_nullable_in_responses(schema):
    c = schema["components"]["schemas"]
    assert c["Coupon"]["properties"]["redeem_by"]["nullable"] is True
    for field in ("finalized_at", "due_at", "paid_at", "voided_at"):
        assert c["Invoice"]["properties"][field]["nullable"] is True, field
    assert c["CouponValidation"]["properties"]["coupon"]["nullable"] is True
