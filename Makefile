# The interface of the project: every target works from a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DAYS ?= 5
DEMO_SCALE ?= medium
# The local warehouse asks for a password it generated; libpq (dbt, sqlfluff, psql) reads it
# from this passfile. An external Postgres (PGHOST set) keeps the user's own settings.
ifeq ($(PGHOST),)
export PGPASSFILE := $(abspath $(or $(PEOPLESTACK_WAREHOUSE_DIR),.warehouse))/pgpass
endif

.PHONY: install demo test lint format bench reliability rebuild-history warehouse-up warehouse-down clean

install: $(VENV)/.installed profiles.yml

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

profiles.yml: profiles.yml.example
	@if [ -f $@ ]; then echo "profiles.yml exists; compare it with profiles.yml.example"; \
	else cp $< $@; echo "created profiles.yml from profiles.yml.example"; fi

warehouse-up: install
	$(BIN)/python -m ingest warehouse up

warehouse-down: install
	$(BIN)/python -m ingest warehouse down

# The whole job on the built-in sandbox tenant, over several simulated days.
demo: warehouse-up
	DEMO_DAYS=$(DEMO_DAYS) DEMO_SCALE=$(DEMO_SCALE) bash scripts/demo.sh

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile
	$(MAKE) --no-print-directory lint

lint: warehouse-up
	$(BIN)/ruff check ingest tests scripts benchmarks
	$(BIN)/ruff format --check ingest tests scripts benchmarks
	$(BIN)/sqlfluff lint dbt_project

format: install
	$(BIN)/ruff format ingest tests scripts benchmarks
	$(BIN)/ruff check --fix ingest tests scripts benchmarks
	$(BIN)/sqlfluff fix dbt_project

# Loads, their floors, memory, an incremental day and dbt at scale, in one run on its own
# warehouse and sandboxes (~15 minutes); writes benchmarks/results.json and results.md.
# Smaller: BENCH_SF_USERS=20000 BENCH_COMPLETIONS=200000 make bench (README: Performance).
bench: install
	$(BIN)/python -m benchmarks

# The reliability suite, fast and slow parts, and the slow whole-job runs; ends with the
# table of faults, bad inputs, attacks and secret scans that README quotes.
reliability: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "slow or not slow" tests/reliability tests/test_end_to_end.py

# Rebuild dropped snapshots (SCD history) from the raw change log, then the models
# (README: If the snapshots are lost). ARGS: e.g. --drop-existing, or -- <dbt arguments>.
rebuild-history: install
	$(BIN)/python scripts/rebuild_history.py $(ARGS)

clean:
	rm -rf target logs .pytest_cache .ruff_cache
