# tea-lsp — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXAMPLE := examples/parallel_pipeline.tea.yaml

.PHONY: help install run check lint format types pytest test bench vsix vscode-test vscode-e2e-setup vscode-e2e clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install tea-lsp with its test and dev tools

run: $(STAMP) ## Check, then run the bundled example workflow
	$(BIN)/tea-lsp check $(EXAMPLE)
	$(BIN)/tea-lsp run $(EXAMPLE) --input @examples/parallel_pipeline.input.json

check: $(STAMP) ## Check every workflow under examples/ and tests/fixtures/ok/
	$(BIN)/tea-lsp check examples tests/fixtures/ok

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check tea_lsp tests bench
	$(BIN)/ruff format --check tea_lsp tests bench

format: $(STAMP) ## Apply ruff format and safe fixes
	$(BIN)/ruff format tea_lsp tests bench
	$(BIN)/ruff check --fix tea_lsp tests bench

types: $(STAMP) ## mypy --strict
	$(BIN)/mypy

pytest: $(STAMP) ## Run the Python test suite (installs Graphviz and Chromium first when missing)
	sh scripts/ensure-graphviz-chromium.sh
	$(BIN)/pytest -q

include editors/vscode/Makefile.fragment

test: lint types vscode-test vsix vscode-e2e-setup pytest ## Lint, types, VS Code extension build+tests+package, e2e setup, then the whole Python suite (incl. Neovim and the VS Code end-to-end test)

bench: $(STAMP) ## Run every benchmark (ratios against in-run baselines); TEA=DIR adds the corpus ones
	for b in bench/*.py; do \
	  case $$b in \
	    */__init__.py|*/workflows.py) continue ;; \
	    *compat.py) if [ -z "$(TEA)" ]; then echo "== $$b: skipped (make bench TEA=path/to/a/TEA/checkout)"; continue; fi; \
	      echo "== $$b"; $(PY) $$b $(TEA) || exit 1 ;; \
	    *) echo "== $$b"; $(PY) $$b || exit 1 ;; \
	  esac; \
	done

clean: ## Remove the virtualenv and build outputs
	rm -rf $(VENV) build dist *.egg-info editors/vscode/node_modules editors/vscode/out
