#!/usr/bin/env python3
"""A local webhook receiver for the demo: prints every event it receives, with its signature verified.

    python scripts/webhook_receiver.py [--port 8089] [--secret whsec_…]

The secret defaults to $WEBHOOK_SECRET, else to the demo endpoint's secret that `seed_demo` writes
to .data/demo-webhook-secret. Verification is the Standard Webhooks scheme written out with the
standard library, as any receiver can do it: HMAC-SHA256 keyed with the base64-decoded secret over
"<webhook-id>.<webhook-timestamp>.<raw body>", base64, compared with each `v1,` signature of the
`webhook-signature` header; a timestamp more than 5 minutes away is refused too. A verified event
is answered 200 (and a repeated webhook-id is printed as a repeat); anything else 400.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET_FILE = Path(__file__).resolve().parent.parent / ".data" / "demo-webhook-secret"
TOLERANCE_SECONDS = 300


def verify(secret: str, headers, body: bytes) -> str | None:
    """Return None when the request is authentic, else the reason it is not."""
    msg_id, timestamp, signatures = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return "timestamp missing or more than 5 minutes away"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no matching v1 signature"


def make_handler(secret: str):
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            problem = verify(secret, self.headers, body)
            if problem:
                print(f"REFUSED {self.headers.get('webhook-id')}: {problem}", flush=True)
                self.send_response(400)
                self.end_headers()
                return
            event = json.loads(body)
            repeat = " (repeat)" if event["id"] in seen else ""
            seen.add(event["id"])
            obj = event["data"]["object"]
            label = obj.get("number") or obj.get("status") or obj.get("id", "")
            print(
                f"verified {event['created_at']} {event['type']:<32} tenant={event['tenant_id']} {label}{repeat}",
                flush=True,
            )
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEBHOOK_RECEIVER_PORT", "8089")))
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET", ""))
    args = parser.parse_args()
    secret = args.secret or (SECRET_FILE.read_text().strip() if SECRET_FILE.exists() else "")
    if not secret:
        print(f"No secret: pass --secret, set WEBHOOK_SECRET, or run seed_demo (writes {SECRET_FILE}).")
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(secret))
    print(f"Listening on http://127.0.0.1:{args.port}/webhooks — Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
