# The two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_DB ?= demo/mailtally.sqlite3

.PHONY: venv demo test test-asan asan-deps lint bench bench-ingest bench-exim bench-flood bench-scale bench-snapshot clean

$(BIN)/mailtally: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# The compiled parser and joiner (src/mailtally/ingest/_fastlog/): the editable
# install builds it in place; a change to its sources builds it again.
FASTLOG_SOURCES := setup.py $(wildcard src/mailtally/ingest/_fastlog/*.c src/mailtally/ingest/_fastlog/*.h)
# (setup.py marks the extension optional, so that the package installs without a
# compiler: a build that fails leaves the last .so in place, silently.  Here it must
# not: the built module must be newer than every source.)
$(VENV)/.fastlog: $(BIN)/mailtally $(FASTLOG_SOURCES)
	$(BIN)/pip install -q --no-deps -e .
	@so=$$(ls src/mailtally/ingest/_fastlog*.so 2>/dev/null | head -1); \
	if [ -z "$$so" ] || [ -n "$$(find $(filter-out setup.py,$(FASTLOG_SOURCES)) -newer "$$so")" ]; then \
		echo "the compiled parser did not build: $(BIN)/python setup.py build_ext --inplace says why" >&2; exit 1; fi
	@touch $@

venv: $(BIN)/mailtally $(VENV)/.fastlog

## Build a demo platform in $(DEMO_DB) and serve it on $(HOST):$(PORT).
demo: venv
	MAILTALLY_HOST=$(HOST) MAILTALLY_PORT=$(PORT) $(BIN)/mailtally demo --db sqlite:///$(DEMO_DB) --force
	MAILTALLY_HOST=$(HOST) MAILTALLY_PORT=$(PORT) $(BIN)/mailtally serve --db sqlite:///$(DEMO_DB)

## Install everything and run the whole test suite (and the linter), a pytest
## process per core (pytest-xdist), at most 4: `make test PYTEST_JOBS=` runs one.
PYTEST_JOBS ?= -n auto --maxprocesses=4
test: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q $(PYTEST_JOBS)

## The compiled parser and joiner under AddressSanitizer and UBSan: built into
## build-asan/ (a copy of src/ that PYTHONPATH puts first; .venv's own build is
## untouched), then the tests that drive the C code.  Any report fails the run.
ASAN_DIR := build-asan
ASAN_TESTS ?= tests/test_fastlog_parse.py tests/test_fastlog_join.py tests/test_hostile_input.py tests/test_ingest_compiled.py \
	tests/test_joiner_budget.py tests/test_sum_events.py tests/test_tally_events.py tests/test_format_audit.py \
	tests/test_join_hosts.py tests/test_review_findings.py tests/test_review_parse.py tests/test_parsers_misc.py \
	tests/test_parsers_review2.py tests/test_amavis_split.py tests/test_forgery.py
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
	-std=c11 -Wall -Wextra -Wno-unused-parameter -Werror

# gcc and its sanitizer runtimes, installed with apt-get only when missing (CI runs as root)
asan-deps:
	@command -v gcc >/dev/null || { echo "installing gcc"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev </dev/null; }
	@test -e "$$(gcc -print-file-name=libasan.so)" && test -e "$$(gcc -print-file-name=libubsan.so)" || { \
		echo "installing the sanitizer runtimes of gcc $$(gcc -dumpversion)"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libgcc-$$(gcc -dumpversion | cut -d. -f1)-dev" </dev/null; }
	@test -e "$$(gcc -print-file-name=libasan.so)"

test-asan: venv asan-deps
	rm -rf $(ASAN_DIR)/src
	mkdir -p $(ASAN_DIR)
	cp -r src $(ASAN_DIR)/src
	rm -f $(ASAN_DIR)/src/mailtally/ingest/_fastlog*.so
	gcc -shared -fPIC $(ASAN_CFLAGS) \
		-I"$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
		src/mailtally/ingest/_fastlog/*.c \
		-o $(ASAN_DIR)/src/mailtally/ingest/_fastlog$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
	# (leaks: CPython does not free everything at exit; the C code's own frees are
	# checked by the tests' reference counts and state comparisons)
	export LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		PYTHONPATH=$(ASAN_DIR)/src MAILTALLY_EXPECT_FASTLOG=$(ASAN_DIR)/src; \
	$(BIN)/python -c 'import os, mailtally.ingest._fastlog as f; assert f.__file__.startswith(os.path.abspath(os.environ["MAILTALLY_EXPECT_FASTLOG"])), f.__file__; print("sanitized:", f.__file__)' && \
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_JOBS) $(ASAN_TESTS)

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

## The API benchmark of bench/RESULTS.md (needs wrk: apt-get install wrk).
bench: venv
	bash bench/api.sh

## The ingestion benchmark of bench/RESULTS.md: 1M-line Postfix and Exim platform logs,
## mailtally ingest beside pflogsumm and eximstats (apt-get install pflogsumm exim4-base).
bench-ingest: venv
	bash bench/ingest.sh

## Provider scale (issue 9): 100,000 accounts, 400 days (399 as counts, then a 1M-line
## day of log) beside pflogsumm; ACCOUNTS, DOMAINS, HISTORY_DAYS, LINES to scale it.
bench-scale: venv
	bash bench/scale.sh

## Only the Exim platform's log beside eximstats.
bench-exim: venv
	MTAS=exim bash bench/ingest.sh

## The flood benchmark of bench/RESULTS.md: 40 concurrent wrong passwords against
## mailtally serve (peak RSS, a token client's latency with and without them).
bench-flood: venv
	$(BIN)/python bench/flood.py

## stats_snapshot's CSV of a 100,000-account company: time and server RSS
## (a copy of /work/fixture-100k/store-synth.sqlite3, or FIXTURE=...)
bench-snapshot: venv
	bash bench/snapshot.sh

clean:
	rm -rf $(VENV) demo build $(ASAN_DIR) *.egg-info
