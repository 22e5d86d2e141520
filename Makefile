# Burgerwacht — the two commands: `make run` (demo) and `make test` (full suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow lint fmt bench bench-national clean install schema vendor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/burgerwacht demo

# Tests run in TEST_WORKERS processes (pytest-xdist), each with its own embedded PostgreSQL
# and its own slice of ports: most of a test's time is waiting on sockets, so two share
# two cores well (about 8 min instead of 13; three were faster still but made the browser
# tests fragile). TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Only the fault-injection, chaos and fuzz tests (marked slow). `make test` runs them too;
# this is for a quick focused run. More fuzzing: BURGERWACHT_FUZZ_EXAMPLES=200 make test-slow
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check burgerwacht tests bench
	$(BIN)/ruff format --check burgerwacht tests bench

fmt: $(STAMP)
	$(BIN)/ruff format burgerwacht tests bench
	$(BIN)/ruff check --fix burgerwacht tests bench

# burgerwacht/sql/schema.sql: the schema of a freshly migrated database (tests/api/test_schema.py
# checks it); run after changing a migration or a functions file.
schema: $(STAMP)
	$(BIN)/burgerwacht schema-dump --fresh --output burgerwacht/sql/schema.sql

# Leaflet for the console's base map, fetched from the npm registry at a pinned version and
# sha512 into burgerwacht/console/static/vendor/ (committed: only to change the version).
vendor:
	bash scripts/vendor-leaflet.sh

bench: $(STAMP)
	$(BIN)/python -m bench

# The national alert at full size (2M recipients among 10M addresses; `make bench` runs
# it at its --quick size): python -m bench.bench_national --addresses M --residents N for others.
bench-national: $(STAMP)
	$(BIN)/python -m bench national

clean:
	rm -rf $(VENV) .pytest_cache .data
