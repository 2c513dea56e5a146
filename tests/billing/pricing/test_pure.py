"""The pricing engine is pure: importing it pulls in neither Django nor Celery."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
import billing.pricing, billing.pricing.money
from decimal import Decimal
assert billing.pricing.money.quantize(Decimal("1.005"), "USD") == Decimal("1.01")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"django", "celery", "rest_framework", "kombu"})))
"""


@pytest.mark.parametrize("module", ["billing.pricing", "billing_project.money"])
def test_importing_pricing_in_a_fresh_interpreter_imports_neither_django_nor_celery(module):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    probe = PROBE.replace("import billing.pricing, billing.pricing.money", f"import {module}, billing.pricing.money")
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
