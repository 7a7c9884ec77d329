# CleanApp Cases. Every target does its own set-up (idempotent) on a fresh Debian machine as root.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export DATABASE_URL ?= postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp
export TEST_DATABASE_URL ?= postgresql+psycopg://cleanapp:cleanapp@127.0.0.1:5432/cleanapp_test

.PHONY: setup venv postgis web demo serve screenshots test lint imports typecheck doctest pytest bench notebooks tune calibrate clean

# The local service of `make demo` / `make serve` (override any of them in the environment).
demo serve: export JWT_SECRET ?= cleanapp-local-demo-secret-not-for-production
demo serve: export INTERNAL_ADMIN_TOKEN ?= cleanapp-local-internal-token-not-for-production
demo serve: export AUTH_TOKEN_STORE ?= db
demo serve: export EMAIL_SERVICE_URL ?= http://127.0.0.1:8025

setup: venv postgis web

venv:
	@scripts/setup_venv.sh

postgis:
	@scripts/setup_postgis.sh

# Debian's chromium and poppler-utils; the workspace's front-end libraries from npm (lockfile).
web:
	@scripts/setup_web.sh

demo: setup
	$(PY) -m cleanapp_geo.demo
	$(PY) -m cleanapp_api.demo_escalation --outbox-dir outbox
	$(PY) -m cleanapp_api.demo_workspace

# The case service on :8080 (the workspace at /app/) and the email service on :8025 (outbox/).
serve: setup
	@scripts/serve.sh

# Refresh docs/screenshots/ from the browser tests (they save to .screenshots/ otherwise).
screenshots: setup
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -q tests/api/test_workspace_browser.py

lint: venv
	$(VENV)/bin/ruff check cleanapp_geo cleanapp_api tests benchmarks
	$(VENV)/bin/ruff format --check cleanapp_geo cleanapp_api tests benchmarks

# The import rules of docs/architecture.md (contracts in pyproject.toml).
imports: venv
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

# Every docstring example of both packages. Not modules: asgi.py builds the app from the
# environment at import, and migrations/ are scripts Alembic loads.
doctest: venv
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules cleanapp_geo cleanapp_api \
		--ignore=cleanapp_api/asgi.py --ignore=cleanapp_api/db/migrations

pytest: setup
	$(PY) -m pytest -q

test: lint imports typecheck doctest pytest

bench: setup
	$(PY) -m benchmarks run --sizes 10k,100k --json benchmarks/results/latest.json
	$(PY) -m benchmarks realdata --json benchmarks/results/realdata.json
	$(PY) -m benchmarks frontier --json benchmarks/results/frontier.json
	$(PY) -m benchmarks model-cost --json benchmarks/results/model-cost.json
	$(PY) -m benchmarks.store --n 100000
	$(PY) -m benchmarks.service

notebooks: setup
	$(PY) -m pytest -q tests/test_notebooks.py

tune: venv
	$(PY) -m benchmarks tune --out benchmarks/results/tuning

calibrate: venv
	$(PY) -m benchmarks calibrate --out cleanapp_geo/datasets/match_calibration.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
