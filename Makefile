# Atlas. `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/atlas

.DEFAULT_GOAL := help
.PHONY: help run test deps system-deps browser-deps lint check ci prod bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

run: deps ## Set up and run Atlas: SQLite, demo data on first run, web server + jobs; prints URL, login, API key
	$(BIN)/python manage.py serve

test: deps browser-deps ## Run the whole test suite (set DATABASE_URL to run it on PostgreSQL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

deps: system-deps $(VENV)/.installed ## Create the virtual environment and install dependencies

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Atlas needs Python 3.11 or newer")'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		echo "Python's venv module is missing: run 'apt-get install python3-venv' (as root) and try again."; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

system-deps: ## Install the Debian libraries WeasyPrint needs (or say which are missing)
	@missing=""; \
	for lib in libpango-1.0.so.0 libpangoft2-1.0.so.0 libharfbuzz.so.0 libfontconfig.so.1; do \
		ldconfig -p 2>/dev/null | grep -q "$$lib" || missing="$$missing $$lib"; \
	done; \
	if [ -n "$$missing" ]; then \
		pkgs="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libfontconfig1 fonts-dejavu-core"; \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing WeasyPrint's system libraries:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
		else \
			echo "WeasyPrint (invoice PDFs) needs:$$missing. Run: sudo apt-get install -y $$pkgs"; exit 1; \
		fi; \
	fi

browser-deps: ## Install Debian's Chromium for the browser tests (or say how)
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests need Debian's Chromium at /usr/bin/chromium. Run: sudo apt-get install -y chromium"; exit 1; \
		fi; \
	fi

lint: deps ## ruff
	$(BIN)/ruff check .

check: deps ## Migrations are complete and Django's checks pass
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py check

ci: ## What CI runs: lint, migrations check, tests on SQLite and on PostgreSQL
	bash .ci/run

prod: deps ## Run the production server (gunicorn, DEBUG off, whitenoise) and the jobs cluster
	DEBUG=0 $(BIN)/python manage.py collectstatic --noinput -v0
	DEBUG=0 $(BIN)/python manage.py migrate --noinput
	DEBUG=0 $(BIN)/python manage.py qcluster & \
	DEBUG=0 $(BIN)/gunicorn -c atlas/gunicorn.conf.py atlas.wsgi

bench: deps ## Run every benchmark under bench/ (PostgreSQL: set DATABASE_URL)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## Remove the virtual environment, the SQLite database and generated files
	rm -rf $(VENV) db.sqlite3* var
