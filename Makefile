# The two commands of the README: `make up` (run it) and `make test` (test it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_INDEX := src/videofoundry/web/index.html
# The diffusers extra (torch, about 1 GB) lets the tests run a real local pipeline; drop it with
# `make test TEST_EXTRAS=dev` to skip those tests.
TEST_EXTRAS ?= dev,diffusers

.PHONY: up test lint test-python test-web build-web install install-dev clean

up: install build-web
	$(BIN)/videofoundry up --host $(HOST) --port $(PORT)

test: install-dev build-web lint test-python test-web

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$(TEST_EXTRAS)]'

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

build-web: frontend/node_modules/.package-lock.json
	cd frontend && npm run build

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	cd frontend && npm run lint

test-python:
	$(BIN)/pytest

test-web:
	cd frontend && npm run typecheck && npm test && npm run e2e

clean:
	rm -rf $(VENV) frontend/node_modules src/videofoundry/web/assets $(WEB_INDEX)
