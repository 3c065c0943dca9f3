# Every target creates .venv when it is missing; nothing needs to be installed by hand.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEVSTAMP:= $(VENV)/.installed-dev
PIP     := $(BIN)/pip --disable-pip-version-check -q

.PHONY: run test bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip >/dev/null 2>&1 || true

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	touch $@ $(STAMP)

## make run: the daemon against an embedded paper exchange, on the examples in desired/
run: $(STAMP)
	$(BIN)/reconciler run --paper --desired desired --state state/demo.db --once-and-show
	@echo "next: $(BIN)/reconciler --help (or: source $(BIN)/activate, then reconciler --help)"

## make test: the whole suite
test: $(DEVSTAMP)
	$(BIN)/python -m pytest -q

## make bench: every benchmark; copy the printed tables into BENCHMARKS.md
bench: $(DEVSTAMP)
	$(BIN)/python -m bench

## make lint: ruff, mypy and the import-linter layer contracts (pyproject.toml)
lint: $(DEVSTAMP)
	$(BIN)/ruff check reconciler paperclob tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
