# synbiolab: every target installs what it needs, so each one works on a fresh machine.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
STAMP   := $(VENV)/.installed
DATA    ?= $(if $(SYNBIOLAB_DATA),$(SYNBIOLAB_DATA),$(wildcard ../shared/data))

.PHONY: install quickstart test test-all bench lint clean chromium

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The CPU build of torch is pinned and installed first, so that the package's own
# torch requirement is already met and pip never fetches a multi-GB CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,bio,web]"
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	SYNBIOLAB_DATA=$(DATA) $(BIN)/synbiolab quickstart

# The web page's browser tests drive Debian's chromium; installed only when missing.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Two workers of one thread each (pytest-xdist, a test file per worker so that its fixtures are built once):
# most tests train small models, which one thread runs nearly as fast as two, so the 2 cores finish the suite
# in about half the time of one two-thread worker.
PYTEST_PARALLEL ?= -n 2 --dist loadfile

test: install chromium
	SYNBIOLAB_DATA=$(DATA) OMP_NUM_THREADS=1 $(BIN)/pytest $(PYTEST_PARALLEL)

test-all: install chromium
	SYNBIOLAB_DATA=$(DATA) OMP_NUM_THREADS=1 $(BIN)/pytest $(PYTEST_PARALLEL) -m ""

# Each benchmark prints its numbers and ratios; none is asserted. Run one with e.g. `make bench BENCH=diagnosis`.
BENCH ?= foundation diagnosis pipelines sequences gans
bench: install
	for b in $(BENCH); do SYNBIOLAB_DATA=$(DATA) $(BIN)/python bench/$$b.py || exit 1; done

lint: install
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache

# The course (docs/): theory pages and the tutorials, executed, built into docs/_build/html/index.html.
# Warnings fail the build, and so does a tutorial whose headline check fails; then the built pages are
# scanned for resources from other hosts.
DOCS_STAMP := $(VENV)/.installed-docs
.PHONY: docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	SYNBIOLAB_DATA=$(DATA) MPLBACKEND=Agg $(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	SYNBIOLAB_DATA=$(DATA) $(BIN)/pytest -q -p no:cacheprovider tests/test_docs.py
