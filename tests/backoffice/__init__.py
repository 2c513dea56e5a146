"""Tests of the finance back office: dashboard figures, charts, staff-only admin, tenant admin."""
