"""What keeps the read endpoints' latency tails short (README, "Benchmarks": tails).

- each gunicorn worker freezes its loaded app out of the garbage collector (no full collection walks it);
- every database connection runs with JIT off, whatever DATABASE_URL's `options` (no read needs its
  own SET and transaction);
- connections are kept for the life of their thread unless DB_CONN_MAX_AGE says otherwise.
"""

from __future__ import annotations

import gc
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import get_resolver
from django.utils import timezone

from billing_project.settings import with_jit_off

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unfrozen():
    """Leave the collector as found: the suite's own objects must not stay frozen."""
    yield
    gc.unfreeze()


def _tracked(obj) -> bool:
    """Return whether `obj` is in one of the collector's generations (frozen objects are in none)."""
    return any(o is obj for o in gc.get_objects())


def test_a_worker_freezes_its_loaded_app_and_urlconf(unfrozen):
    gc.unfreeze()
    patterns = get_resolver().url_patterns
    assert _tracked(patterns)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    worker = SimpleNamespace(pid=1, log=SimpleNamespace(debug=lambda *a: None))

    conf["post_worker_init"](worker)

    assert gc.get_freeze_count() > 10_000
    assert not _tracked(patterns)  # no collection walks the URLconf any more
    assert gc.isenabled()  # what requests leave behind is still collected


def test_garbage_is_collected_before_freezing(unfrozen):
    from billing_project.gc_tuning import freeze_loaded_app

    gc.unfreeze()
    cycle: list = []
    cycle.append(cycle)
    probe = id(cycle)
    del cycle
    freeze_loaded_app()

    assert all(id(o) != probe for o in gc.get_objects())  # gone, not kept frozen for the process's life


@pytest.mark.parametrize("options", ["", "-c statement_timeout=5000", "-c jit=on"])
def test_jit_is_off_whatever_the_url_options(options):
    result = with_jit_off(options)

    assert result.endswith("-c jit=off")
    assert result.startswith(options)


@pytest.mark.django_db
def test_connections_run_with_jit_off():
    with connection.cursor() as cur:
        cur.execute("SHOW jit")
        assert cur.fetchone()[0] == "off"


@pytest.mark.django_db
def test_realtime_reads_need_no_set_of_their_own(tenant, catalog):
    from realtime.selectors.cost import realtime_by_dimension, realtime_current, realtime_timeline
    from tests.realtime.helpers import ingest, subscribe

    now = timezone.now()
    subscription = subscribe("acme", "starter", started_at=now - timedelta(days=3))
    ingest("acme", [{"metric": "api_calls", "quantity": "9000", "timestamp": now - timedelta(hours=5)}])

    with CaptureQueriesContext(connection) as ctx:
        realtime_current(subscription=subscription, now=now)
        realtime_by_dimension(subscription=subscription, now=now, dimension="resource_id")
        realtime_timeline(subscription=subscription, now=now, granularity="hour")
    assert not [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("SET ")]


def test_connections_are_kept_unless_an_age_is_set():
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] is None
    code = "from django.conf import settings; print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    env_age = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**_env(), "DB_CONN_MAX_AGE": "300", "DJANGO_SETTINGS_MODULE": "billing_project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_age.stdout.strip() == "300", env_age.stderr[-500:]


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "DB_CONN_MAX_AGE"}
