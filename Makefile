# The two commands a newcomer needs: `make run` and `make test`. Everything installs from scratch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
PORT ?= 5000
WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

.PHONY: run serve test lint install install-test browsers translations screenshots wrk bench bench-city bench-peer fuzz layout

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed translations

install-test: $(VENV)/.installed-test translations

# Compiled catalogues are build output: made from the .po files on every install.
translations: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d translations

instance/secret_key:
	mkdir -p instance
	$(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > $@
	chmod 600 $@

# The scheduler of the periodic jobs (`flask jobs run`) runs beside the web server and ends with it.
JOBS_BESIDE = $(FLASK) jobs run & jobs=$$!; trap 'kill $$jobs 2>/dev/null' EXIT INT TERM;

run: install instance/secret_key
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(JOBS_BESIDE) $(FLASK) run --debug --port $(PORT)

# Production never invents a secret: every host must share one (SECRET_KEY, or the same instance/secret_key), so
# without either `flask db upgrade` stops at once and says how to make one. gunicorn reads gunicorn.conf.py: the app
# is preloaded in the master and the workers forked from it share its memory (bench/memory.py measures it).
# One JSON line per request on stderr (blueprints/requestlog.py); ACCESS_LOG= (empty) turns it off.
serve: export ACCESS_LOG ?= json
serve: install
	$(FLASK) db upgrade
	$(JOBS_BESIDE) $(BIN)/gunicorn --no-control-socket --workers $(WORKERS) --bind 0.0.0.0:$(PORT) 'app:create_app()'

# Headless Chromium for the browser tests comes from Debian, never from a test tool's download; the CJK
# fonts make Chinese pages render (and screenshot) as people see them.
browsers:
	@missing=""; [ -x /usr/bin/chromium ] || missing="chromium chromium-driver"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing $$missing from Debian ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null; \
	  else echo "Cannot install $$missing here: browser tests will be skipped."; fi; \
	fi

# The load generator of the benchmarks comes from Debian, like the browsers.
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing wrk from Debian ..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null; \
	  else echo "Install wrk (Debian: apt-get install wrk) to run the benchmarks."; exit 1; fi; }

# Benchmarks (bench/run.py): not part of `make test` or CI. SQLite, and PostgreSQL too when BENCH_DATABASE_URL
# names a server (scratch databases *_bench_* are created there and dropped after); BENCH_BACKENDS=postgresql
# for PostgreSQL alone.
BENCH_ARGS ?= --rounds 3 --seconds 3
bench: install wrk
	$(BIN)/python bench/run.py --scale district $(BENCH_ARGS)

bench-city: install wrk
	$(BIN)/python bench/run.py --scale city $(BENCH_ARGS)

# Our check-in against pretix's (bench/peer.py), PostgreSQL only. pretix lives in bench/peers/.venv-pretix (installed
# when missing, minutes the first time), on <database>_peer_pretix copied from a migrated, seeded template.
PEER_DATABASE_URL = $(or $(BENCH_DATABASE_URL),postgresql://postgres@127.0.0.1:5432/test)
bench-peer: install wrk
	$(BIN)/python bench/peers/pretix_peer.py setup --database-url $(PEER_DATABASE_URL)
	$(BIN)/python bench/peer.py --database-url $(PEER_DATABASE_URL) $(BENCH_PEER_ARGS)

# --dist worksteal: a worker that runs out of tests takes the rest of another's queue, so the minute-long tests
# (the hostile-input sweep, the demo, the benches) don't leave one worker running alone at the end.
test: install-test browsers
	@$(MAKE) --no-print-directory wrk || echo "Without wrk, the benchmarks' tests (tests/test_bench_run.py, tests/test_bench_peer.py) are skipped."
	$(BIN)/pytest -n auto --dist worksteal $(PYTEST_ARGS)

# The API fuzzed from its OpenAPI description for longer than `make test` does (FUZZ_EXAMPLES per operation).
FUZZ_EXAMPLES ?= 200
fuzz: install-test
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -n auto --dist worksteal tests/test_fuzz.py $(PYTEST_ARGS)

# Refreshes the README's screenshots from a throwaway demo database.
screenshots: install-test browsers
	$(BIN)/python -m tests.browser.screenshots

# The README's Layout section, generated from the modules' docstrings (tests/test_layering.py checks it is current).
layout: $(BIN)/python
	$(BIN)/python scripts/layout.py --write

lint: install-test
	$(BIN)/ruff check .
