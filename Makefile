# clausewise — `make run` (install, build the index from corpus/, serve) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INDEX ?= index
CORPUS ?= corpus
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install system-deps run index test lint format bench lock clean

# Reinstall only when the project's dependencies change; constraints.txt holds the versions
# the suite passed with.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

# OCR of scanned PDF pages needs Tesseract (Debian: tesseract-ocr); try to install it when it is
# missing, and carry on without it: such pages are then reported with the fix, never dropped.
system-deps:
	@command -v tesseract >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    tesseract-ocr tesseract-ocr-eng) >/dev/null 2>&1 \
	  || echo "warning: could not install tesseract-ocr (apt-get); scanned PDF pages will be reported, not read" >&2; }

# Incremental: a run over an unchanged corpus writes nothing and takes well under a second.
index: install system-deps
	$(BIN)/clausewise ingest $(CORPUS) --index $(INDEX)

# Byte-compile the project first: an editable install leaves that to the first import, which
# cannot cache it where PYTHONDONTWRITEBYTECODE is set (then every start compiles: ~0.3 s).
run: index
	$(BIN)/python -m compileall -q service ingest evaluation
	$(BIN)/clausewise serve --index $(INDEX) --corpus $(CORPUS) --host $(HOST) --port $(PORT)

test: install system-deps
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

# Newest versions pyproject.toml admits, resolved in a throwaway virtualenv, into constraints.txt
# (its comment header kept). Run `make test` after it: the new set is then installed and tested.
# One shell, stopping at the first failure: a failed resolve leaves constraints.txt as it was.
lock:
	set -e; trap 'rm -rf .lock-venv constraints.txt.new .lock-freeze' EXIT; \
	  rm -rf .lock-venv; $(PYTHON) -m venv .lock-venv; \
	  .lock-venv/bin/pip install --quiet --upgrade pip; \
	  .lock-venv/bin/pip install --quiet -e '.[test]'; \
	  .lock-venv/bin/pip freeze --exclude-editable > .lock-freeze; \
	  { grep '^#' constraints.txt; grep -v '^torch==' .lock-freeze; } > constraints.txt.new; \
	  mv constraints.txt.new constraints.txt

clean:
	rm -rf $(INDEX) .pytest_cache
