"""Tests of the plumbing every app shares (billing_project/): auth, errors, idempotency, rate limits, migrations."""
