# The two commands a newcomer needs: `make run` and `make test`. Everything installs from scratch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
PORT ?= 5000
WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

.PHONY: run serve test lint install install-test browsers translations screenshots

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

run: install instance/secret_key
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --debug --port $(PORT)

serve: install instance/secret_key
	$(FLASK) db upgrade
	$(BIN)/gunicorn --no-control-socket --workers $(WORKERS) --bind 0.0.0.0:$(PORT) 'app:create_app()'

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

test: install-test browsers
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

# Refreshes the README's screenshots from a throwaway demo database.
screenshots: install-test browsers
	$(BIN)/python -m tests.browser.screenshots

lint: install-test
	$(BIN)/ruff check .
