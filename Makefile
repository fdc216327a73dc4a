# ordertrail: `make demo` runs the demo, `make test` runs every check. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export ORDERTRAIL_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/ordertrail_test

.PHONY: demo test install lint typecheck unit bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ordertrail demo --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	bash scripts/ensure-chromium.sh
	. scripts/ensure-postgres.sh && $(BIN)/pytest

bench: $(STAMP)
	. scripts/ensure-postgres.sh && $(BIN)/python bench/run.py

bench-quick: $(STAMP)
	. scripts/ensure-postgres.sh && $(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
