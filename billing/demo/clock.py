"""The demo's clock: the history is replayed with `timezone.now()` set to each moment."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone


@contextmanager
def clock(at: datetime):
    """Run the block as if it were `at`: every `timezone.now()` in the services returns `at`."""
    real = timezone.now
    timezone.now = lambda: at
    try:
        yield
    finally:
        timezone.now = real
