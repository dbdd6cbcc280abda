# clausewise — `make run` (install, build the index from corpus/, serve) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INDEX ?= index
CORPUS ?= corpus
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install run index test lint format bench clean

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Incremental: a run over an unchanged corpus writes nothing and takes well under a second.
index: install
	$(BIN)/clausewise ingest $(CORPUS) --index $(INDEX)

run: index
	$(BIN)/clausewise serve --index $(INDEX) --corpus $(CORPUS) --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest

# The gate CI runs before the tests: lint, formatting and types.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(INDEX) .pytest_cache
