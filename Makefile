# cpf-tui — two commands: `make run` (training sandbox) and `make test` (whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-pg install dev demo-reset bench guide migrations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

run: install
	$(BIN)/cpf-tui demo

demo-reset: install
	$(BIN)/cpf-tui demo --reset

test: dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# The same suite with every database test on PostgreSQL (one database per test).
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
test-pg: dev
	CPF_TUI_TEST_PG_URL=$(PG_URL) $(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# Regenerate the screen captures of docs/guide-utilisateur.md from the real app (tmux, 80x24).
guide: dev
	$(BIN)/python docs/make_guide.py

bench: dev
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Regenerate the (pre-release) initial migration from the models; see docs/development.md.
migrations: dev
	$(BIN)/python -m cpf_tui.devtools regenerate-initial

clean:
	rm -rf $(VENV) build *.egg-info
