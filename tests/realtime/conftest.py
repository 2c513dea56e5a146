"""Fixtures of the real-time tests."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Start each test with an empty cache: the test database is reset between tests, caches are not."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
