"""The Sentry scrubber: no token, key, card number or e-mail address leaves the service."""

from __future__ import annotations

import json

from billing_project.observability.sentry import before_send, scrub_text

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"


def test_request_headers_cookies_and_body_fields_are_filtered():
    event = {
        "request": {
            "headers": [["Authorization", f"Bearer {JWT}"], ["X-Request-ID", "r1"], ["Cookie", "sessionid=abc"]],
            "cookies": {"sessionid": "abc", "csrftoken": "x"},
            "data": {"payment_method_id": "pm_1", "card": {"number": "4242424242424242", "cvc": "123"}},
            "query_string": "token=abc&page=2",
        },
        "extra": {"stripe_secret_key": "sk_test_123", "password": "hunter2", "invoice_id": "inv_1"},
    }
    out = before_send(event, {})
    headers = dict(out["request"]["headers"])
    assert headers["Authorization"] == "[Filtered]" and headers["Cookie"] == "[Filtered]"
    assert headers["X-Request-ID"] == "r1"
    assert out["request"]["cookies"] == "[Filtered]"
    assert out["request"]["query_string"] == "token=[Filtered]&page=2"
    assert out["request"]["data"]["card"] == "[Filtered]"
    assert out["extra"] == {"stripe_secret_key": "[Filtered]", "password": "[Filtered]", "invoice_id": "inv_1"}
    dumped = json.dumps(out)
    for secret in (JWT, "4242424242424242", "hunter2", "sk_test_123", "sessionid=abc"):
        assert secret not in dumped


def test_secrets_inside_messages_and_exception_values_are_replaced():
    event = {
        "exception": {
            "values": [
                {
                    "type": "CardError",
                    "value": "card 4000 0000 0000 0341 of ops@acme.example declined; key sk_live_abcDEF; whsec_QUJD",
                    "stacktrace": {"frames": [{"vars": {"email": "'jane@acme.example'", "header": f"'Bearer {JWT}'"}}]},
                }
            ]
        },
        "logentry": {"message": "mail to billing@acme.example failed", "params": []},
        "breadcrumbs": {"values": [{"message": f"GET /x Authorization: Bearer {JWT}"}]},
    }
    dumped = json.dumps(before_send(event, {}))
    for secret in (
        "4000 0000 0000 0341",
        "ops@acme.example",
        "sk_live_abcDEF",
        "whsec_QUJD",
        "jane@acme.example",
        "billing@acme.example",
        JWT,
    ):
        assert secret not in dumped
    assert "[card]" in dumped and "[email]" in dumped and "CardError" in dumped


def test_ordinary_numbers_and_ids_are_left_alone():
    text = "invoice INV-2026-000123 total 1234567890123 cents for sub_42 at 2026-11-30T07:00:00Z"
    assert scrub_text(text) == text  # 1234567890123 fails the Luhn check: not a card number
