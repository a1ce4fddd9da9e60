# metpipeline — the two set-up commands are `make run` and `make test`; each installs what it needs.
SHELL := /bin/bash
export DAGSTER_HOME ?= $(CURDIR)/var/dagster
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv
APT_PACKAGES := postgresql unixodbc tdsodbc chromium

.PHONY: setup system-deps dagster-home run ui test test-fast lint format seed clean

## setup: uv (from PyPI) if missing, then the locked environment, its modules compiled to bytecode at
## install: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines), nothing else writes the cache and
## every process would compile Great Expectations, Dagster and the rest from source (about 8 s each)
setup:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --frozen --quiet --compile-bytecode
	@$(UV) run --frozen python -m compileall -q -j 0 metpipeline metpipeline_tests benchmarks

## system-deps: Debian packages the tests need (PostgreSQL server, ODBC driver manager + FreeTDS, Chromium)
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

## dagster-home: the Dagster instance directory with its SQLite-backed dagster.yaml
dagster-home:
	@mkdir -p "$(DAGSTER_HOME)" && cp -u dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

## run: the monthly release of the latest complete month on the embedded default (seeds it if absent)
run: setup dagster-home
	@$(UV) run metpipeline demo

## ui: the Dagster UI and daemon on the same state (http://127.0.0.1:3000)
ui: setup dagster-home
	@$(UV) run metpipeline ui --with-daemon -w workspace.yaml --host 127.0.0.1 --port 3000

## test: the whole suite (unit, golden, PostgreSQL, S3-compatible server, browser), on TEST_WORKERS
## processes (pytest-xdist; each test module stays on one worker, the minutes-long topology and browser
## tests start first, one per worker: metpipeline_tests/conftest.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: setup system-deps dagster-home
	@$(UV) run pytest -n $(TEST_WORKERS) --dist loadscope

## test-fast: everything but the browser test
test-fast: setup
	@$(UV) run pytest -n $(TEST_WORKERS) --dist loadscope -m "not browser"

lint: setup
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run mypy

format: setup
	@$(UV) run ruff format .
	@$(UV) run ruff check --fix .

seed: setup
	@$(UV) run metpipeline datamart seed

clean:
	rm -rf var
