"""Tests of the finance back office (billing/admin): dashboard figures, charts, staff-only admin, tenant admin."""
