# protoecg: set-up, tests and the book. Every target installs what it needs on a fresh machine.
#   make test   -> the unit tests
#   make book   -> execute every chapter (fast mode) and build the static site into _build/html
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.protoecg-installed

.PHONY: setup test book benchmarks clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements-ci.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-ci.txt -e .
	touch $@

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 tests   # two workers, one torch thread each

book: $(STAMP)
	bash book/vendor.sh
	PATH="$(abspath $(BIN)):$$PATH" bash book/build.sh

benchmarks: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _build .pytest_cache
