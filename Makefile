# Two commands set everything up on a machine that has Python 3.11:
#   make run   - virtual environment, packages, database, official units, demo; serves on 127.0.0.1:8000
#   make test  - the same set-up, then the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1:8000

.PHONY: run setup test worker lint check messages bench bench-rollups clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(INSTALLED)

# Every step is idempotent: running it again changes nothing.
setup: $(INSTALLED)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_admin_units
	$(BIN)/python manage.py seed_demo

run: setup
	$(BIN)/python manage.py runserver $(HOST)

test: $(INSTALLED)
	$(BIN)/python -m pytest

# A Celery worker for deployments with a broker: CELERY_BROKER_URL or REDIS_URL must be set.
worker: $(INSTALLED)
	@if [ -z "$$CELERY_BROKER_URL$$REDIS_URL" ]; then \
		echo "Set CELERY_BROKER_URL or REDIS_URL (for example redis://127.0.0.1:6379/0)."; exit 2; fi
	$(BIN)/celery -A config worker --loglevel=info

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: $(INSTALLED)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check

messages: $(INSTALLED)
	$(BIN)/python manage.py makemessages -l vi --no-location --ignore=.venv --ignore=staticfiles --ignore=tests
	$(BIN)/python manage.py compilemessages -l vi

clean:
	rm -rf $(VENV) staticfiles db.sqlite3

# Import benchmark (docs/benchmarks.md): a synthetic Lào Cai list of BENCH_HOUSEHOLDS households, imported
# by django-import-export's default resource and end to end by ours, on a throwaway PostgreSQL database.
# More options through BENCH_ARGS, e.g. make bench BENCH_HOUSEHOLDS=500000 BENCH_ARGS="--format xlsx".
BENCH_HOUSEHOLDS ?= 2000
BENCH_ARGS ?=
bench: $(INSTALLED)
	$(BIN)/python scripts/bench_import.py --households $(BENCH_HOUSEHOLDS) $(BENCH_ARGS)

# Rollup benchmark (docs/benchmarks.md): ROLLUP_HOUSEHOLDS synthetic households with members, statuses and a
# survey each on a throwaway PostgreSQL database; full and one-commune recompute, and page times.
ROLLUP_HOUSEHOLDS ?= 20000
bench-rollups: $(INSTALLED)
	$(BIN)/python scripts/bench_rollups.py --households $(ROLLUP_HOUSEHOLDS) $(BENCH_ARGS)
