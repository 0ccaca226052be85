# Two commands for a fresh machine: `make run` starts the whole hotline, `make test` runs the tests.
# Each creates .venv when it is missing and (re)installs the project only when pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The softphone's SIP library (JsSIP, from the npm registry through package.json and package-lock.json), bundled
# by esbuild into one ES module the dashboard imports. `npm ci` runs again whenever either npm file changed.
NPM_STAMP := node_modules/.installed
JSSIP     := callcenter/web/static/vendor/jssip.min.js

.PHONY: run test lint check-config clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ with npm (apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

$(JSSIP): $(NPM_STAMP)
	npm run --silent build

run: $(STAMP) $(JSSIP)
	$(BIN)/callcenter run

# Two workers: most tests wait on processes, browsers and Asterisk rather than on the CPU (see tests/asterisk).
PYTEST_PARALLEL ?= -n 2 --dist loadgroup

test: $(STAMP) $(JSSIP) lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check callcenter tests $(wildcard benchmarks)
	$(BIN)/mypy

check-config: $(STAMP)
	$(BIN)/callcenter check-config

clean:
	rm -rf $(VENV) var node_modules callcenter/web/static/vendor .pytest_cache .mypy_cache .ruff_cache
