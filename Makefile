# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= .hubindex
DEMO_ZOO := $(DATA)/zoo-small-seed0
DEMO_DB  := $(DATA)/demo.duckdb
CHROMIUM := /usr/bin/chromium

.PHONY: demo test lint setup clean schemas

setup: $(VENV)/.installed $(CHROMIUM)

# torch is pinned first so pip takes the CPU build on local disk, not the multi-GB CUDA one.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The atlas tests drive Debian's chromium with Playwright (Playwright's own browser downloads do not work here).
$(CHROMIUM):
	command -v apt-get >/dev/null || { echo "install chromium at $@ (the atlas tests need it)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

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
