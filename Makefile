# Routescope: `make run` serves the dashboard on http://127.0.0.1:8000, `make test` runs every test.
# Both set everything up on a fresh machine (Python venv, npm packages, system packages for tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# The Django suite runs on pytest-xdist workers: most of its time is waiting (Celery worker
# subprocesses, headless Chromium, servers), so 3 workers pay on 2 cores. Tests that must
# not run side by side share an xdist_group (conftest.py). `make test XDIST=` runs it serially.
XDIST ?= -n 3 --dist loadgroup

.PHONY: run test test-postgres venv venv-dev frontend sysdeps migrate demo lint bench clean lock image

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Installed from the hash-locked files (pip-compile --generate-hashes; `make lock` remakes
# them after a change to requirements*.txt).
$(VENV)/.runtime: requirements.lock | $(VENV)/bin/activate
	$(PIP) install -q --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements.lock requirements-dev.lock | $(VENV)/bin/activate
	$(PIP) install -q --require-hashes -r requirements-dev.lock
	touch $@ $(VENV)/.runtime

# The `routescope` command (pyproject.toml [project.scripts]): the project itself, editable,
# without dependencies (the lock installed them); pip builds it with the pinned setuptools.
# A script calls it once per question, so its start-up counts (issue 15: <= 150 ms):
# - editable_mode=compat puts the checkout on sys.path with a plain .pth line; setuptools'
#   default finder imports importlib.util, fnmatch and pathlib in every Python process
#   (~11 ms CPU per start, measured);
# - its modules' bytecode is compiled here: where PYTHONDONTWRITEBYTECODE is set (this CI
#   machine sets it) nothing would ever write it, and each call would compile ~60 modules.
$(VENV)/.cli: pyproject.toml | $(VENV)/.runtime
	$(PIP) install -q --no-deps -e . --config-settings editable_mode=compat
	$(PY) -m compileall -q -j 0 routing cluster core jobs >/dev/null
	touch $@

venv: $(VENV)/.runtime $(VENV)/.cli
venv-dev: $(VENV)/.dev $(VENV)/.cli

# Front-end libraries come from npm (lockfile committed) and are copied under static/vendor/.
node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static/vendor/.stamp: node_modules/.stamp scripts/vendor.sh
	bash scripts/vendor.sh
	touch $@

frontend: static/vendor/.stamp

# What the tests need that a fresh machine of this kind lacks: Chromium for page tests,
# iptables/nftables/ipvsadm for the rule tests. Installed only when missing.
sysdeps:
	@bash scripts/sysdeps.sh
	@bash scripts/services.sh

migrate: venv
	$(PY) manage.py migrate --noinput -v 0

demo: migrate
	$(PY) manage.py load_demo --if-empty

run: venv frontend demo
	$(PY) manage.py collectstatic --noinput -v 0
	@echo "Routescope is serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"
	$(VENV)/bin/gunicorn config.wsgi --bind $(HOST):$(PORT) --workers 2 --threads 4 --timeout 120 --access-logfile -

# Import layers and engine purity (import-linter), ruff (lint + format check) and mypy (strict
# for routing/engine), all configured in pyproject.toml; .pre-commit-config.yaml runs the same.
lint: venv-dev
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: venv-dev frontend sysdeps lint
	$(VENV)/bin/pytest -p no:django -p no:cacheprovider -W ignore::pytest.PytestConfigWarning routing/tests/engine $(PYTEST_ARGS)
	$(VENV)/bin/pytest --ignore=routing/tests/engine $(XDIST) $(PYTEST_ARGS)

# CI's second pass (.ci/run, after `make test`): only the tests that use the database (the
# `database` marker, set in conftest.py), against PostgreSQL; no lint, no engine suite (they
# do not depend on the database and ran once already). DATABASE_URL, when set, is used.
POSTGRES_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/routescope_ci)
test-postgres: export DATABASE_URL := $(POSTGRES_URL)
test-postgres: venv-dev frontend sysdeps
	$(VENV)/bin/pytest -m database --ignore=routing/tests/engine $(XDIST) $(PYTEST_ARGS)

LOCK_OPTS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: venv-dev
	$(VENV)/bin/pip-compile $(LOCK_OPTS) --output-file requirements.lock requirements.txt
	$(VENV)/bin/pip-compile $(LOCK_OPTS) --constraint requirements.lock --output-file requirements-dev.lock requirements-dev.txt

# The container image (Containerfile): base from Debian packages, built with buildah. Takes
# minutes (the base is reused), so `make test` does not run it.
image: frontend
	@bash scripts/build-image.sh

bench: venv-dev
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles
