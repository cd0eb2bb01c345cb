# Two commands do all set-up on a fresh machine:
#   make run   - create .venv, install, start the dashboard on the shipped demo model (this machine only)
#   make test  - create .venv, install (incl. Chromium for the browser tests), lint, run the whole suite
# make serve   - the dashboard for a room: listens on every interface, with the locked-down policy
# CI (.ci/run) also runs `make audit` (pip-audit over the installed packages).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501
# Where the dashboard listens: loopback serves only this machine. Anything else serves a room, and the
# dashboard then refuses pickles unless PRUNEVIZ_ALLOW_PICKLE=1 (see pruneviz/ui/serving.py).
PRUNEVIZ_HOST ?= 127.0.0.1

.PHONY: run serve test lint format audit bench docs chromium clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade-strategy only-if-needed -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --no-deps -e .
	touch $@

# The browser tests drive the system Chromium (/usr/bin/chromium) through Playwright.
chromium:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: present"; else \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; fi

run: $(STAMP)
	$(VENV)/bin/streamlit run app.py --server.address $(PRUNEVIZ_HOST) --server.port $(PORT) --server.headless true

serve:
	$(MAKE) run PRUNEVIZ_HOST=0.0.0.0

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) chromium lint
	$(PY) -m pytest

# Known vulnerabilities in everything installed (pinned requirements and their dependencies).
audit: $(STAMP)
	$(PY) .ci/audit.py

# The documentation site (MkDocs Material), strict: a broken link or a missing reference fails it.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(PY) benchmarks/incremental_eval.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/artifacts build/site
