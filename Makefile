# The two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_DB ?= demo/mailtally.sqlite3

.PHONY: venv demo test lint bench bench-ingest bench-flood clean

$(BIN)/mailtally: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# The compiled parser and joiner (src/mailtally/ingest/_fastlog/): the editable
# install builds it in place; a change to its sources builds it again.
FASTLOG_SOURCES := setup.py $(wildcard src/mailtally/ingest/_fastlog/*.c src/mailtally/ingest/_fastlog/*.h)
$(VENV)/.fastlog: $(BIN)/mailtally $(FASTLOG_SOURCES)
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

venv: $(BIN)/mailtally $(VENV)/.fastlog

## Build a demo platform in $(DEMO_DB) and serve it on $(HOST):$(PORT).
demo: venv
	MAILTALLY_HOST=$(HOST) MAILTALLY_PORT=$(PORT) $(BIN)/mailtally demo --db sqlite:///$(DEMO_DB) --force
	MAILTALLY_HOST=$(HOST) MAILTALLY_PORT=$(PORT) $(BIN)/mailtally serve --db sqlite:///$(DEMO_DB)

## Install everything and run the whole test suite (and the linter).
test: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

## The API benchmark of bench/RESULTS.md (needs wrk: apt-get install wrk).
bench: venv
	bash bench/api.sh

## The ingestion benchmark of bench/RESULTS.md (needs pflogsumm: apt-get install pflogsumm).
bench-ingest: venv
	bash bench/ingest.sh

## The flood benchmark of bench/RESULTS.md: 40 concurrent wrong passwords against
## mailtally serve (peak RSS, a token client's latency with and without them).
bench-flood: venv
	$(BIN)/python bench/flood.py

clean:
	rm -rf $(VENV) demo build *.egg-info
