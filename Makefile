# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= .hubindex
DEMO_ZOO := $(DATA)/zoo-small-seed0
DEMO_DB  := $(DATA)/demo.duckdb

.PHONY: demo test lint setup clean schemas redis

setup: $(VENV)/.installed redis

# Debian's redis-server: the Celery broker the worker tests start on a free loopback port.
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null)

# torch is pinned first so pip takes the CPU build on local disk, not the multi-GB CUDA one.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/hubindex zoo build $(DEMO_ZOO) --size small --seed 0
	$(BIN)/hubindex zoo show $(DEMO_ZOO)
	$(BIN)/hubindex index $(DEMO_ZOO) --db $(DEMO_DB) --method hubindex,paper
	$(BIN)/hubindex eval --db $(DEMO_DB) --truth $(DEMO_ZOO)/truth.json
	$(BIN)/hubindex similar acme-ai/lm-legal-ft1 --db $(DEMO_DB) -k 5
	$(BIN)/hubindex similar acme-ai/lm-legal-ft1 --db $(DEMO_DB) -k 5 --by weights

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

schemas: setup
	$(BIN)/python -m hubindex.schemas

clean:
	rm -rf $(VENV) $(DATA) *.egg-info
