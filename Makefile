# Two commands do everything on a fresh machine: `make demo` and `make test`.
# `make demo` needs no root, no browser and no Redis: a venv without the test tools, one family of the tiny zoo, an
# in-process index and a local hub. `make test` adds the test tools (.[dev]) and Debian's redis-server and chromium
# (apt) for the worker and atlas page tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= .hubindex
DEMO_SIZE  ?= tiny
DEMO_JOBS  ?= 2
# One family (31 models: finetunes, LoRAs, merges, a bf16 copy, an int8 copy), bit-identical to the lm family of the
# two-family tiny zoo: half the training, indexing and crawling, and every relation still shown.
DEMO_FAMILIES ?= 1
DEMO_ZOO   := $(DATA)/zoo-$(DEMO_SIZE)-seed0-f$(DEMO_FAMILIES)
DEMO_DB    := $(DATA)/demo.duckdb
DEMO_HUB_DB := $(DATA)/demo-hub.duckdb
DEMO_MODEL ?= acme-ai/lm-legal-ft1
DEMO_ROOT  ?= hubindex-labs/lm-base
DEMO_HOST  ?= 127.0.0.1
DEMO_PORT  ?= 8000
CHROMIUM := /usr/bin/chromium

.PHONY: demo demo-index test lint setup clean schemas redis

# Everything `make test` needs: the venv with the test tools, plus Debian's redis-server and chromium.
setup: $(VENV)/.dev-installed redis $(CHROMIUM)

# Debian's redis-server: the Celery broker the worker tests start on a free loopback port.
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null)

# torch is pinned first so pip takes the CPU build on local disk, not the multi-GB CUDA one. The demo needs only
# hubindex itself; the test tools (pytest, mergekit, playwright, schemathesis...) come with `make test`.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The atlas tests drive Debian's chromium with Playwright (Playwright's own browser downloads do not work here).
$(CHROMIUM):
	command -v apt-get >/dev/null || { echo "install chromium at $@ (the atlas tests need it)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# `hubindex serve` prints the atlas URL.
demo: demo-index
	$(BIN)/hubindex serve --db $(DEMO_DB) --host $(DEMO_HOST) --port $(DEMO_PORT)

# Everything before serving: build the tiny zoo, index it in-process, score it against the zoo's truth, query it,
# then crawl the same zoo served by the local test hub (range reads over HTTP, as from a real hub).
demo-index: $(VENV)/.installed
	$(BIN)/hubindex zoo build $(DEMO_ZOO) --size $(DEMO_SIZE) --seed 0 --families $(DEMO_FAMILIES) --jobs $(DEMO_JOBS)
	$(BIN)/hubindex index $(DEMO_ZOO) --db $(DEMO_DB)
	$(BIN)/hubindex eval --db $(DEMO_DB) --truth $(DEMO_ZOO)/truth.json
	$(BIN)/hubindex lineage $(DEMO_ROOT) --db $(DEMO_DB)
	$(BIN)/hubindex parents $(DEMO_MODEL) --db $(DEMO_DB) -k 3
	$(BIN)/hubindex similar $(DEMO_MODEL) --db $(DEMO_DB) -k 5
	$(BIN)/hubindex similar $(DEMO_MODEL) --db $(DEMO_DB) -k 5 --by weights
	$(BIN)/hubindex merge-candidates $(DEMO_MODEL) --db $(DEMO_DB) -k 3
	$(BIN)/hubindex search legal --db $(DEMO_DB) --limit 5
	rm -rf $(DEMO_HUB_DB) $(DEMO_HUB_DB).faiss
	$(BIN)/python scripts/demo_hub.py $(DEMO_ZOO) $(DEMO_HUB_DB)
	$(BIN)/hubindex parents $(DEMO_MODEL) --db $(DEMO_HUB_DB) -k 1

# Two pytest-xdist workers (tests/conftest.py builds each session zoo once, under a file lock): 499 tests in ~5 min
# on 2 cores against ~7 serially.
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

schemas: $(VENV)/.installed
	$(BIN)/python -m hubindex.schemas

clean:
	rm -rf $(VENV) $(DATA) *.egg-info
