# run, test, lint, bench and lock bootstrap .venv from requirements.lock when it is missing
# or older than the lock (or pyproject.toml).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced

.PHONY: run test test-fast lint bench clean lock browser

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$$(sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements.lock)"
	@$(BIN)/uv pip sync -q --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

run: $(STAMP)
	$(BIN)/remit up

test: $(STAMP) browser
	$(BIN)/pytest $(PYTEST_ARGS)

# The console's browser tests drive Debian's Chromium with its driver: installed when missing
# (as root, from the Debian archive; elsewhere install `chromium` and `chromium-driver` first).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# The tests that need no running platform (pure logic, fakes at the boundary): seconds, not minutes.
test-fast: $(STAMP)
	$(BIN)/pytest -m fast -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services tests
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m tests.bench

.PHONY: docs
# The documentation site, into site/; --strict fails on a broken link or a generator error.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Regenerates the locks from pyproject.toml (needs the registry): everything (the dev tools and
# the embedded servers of the devstack extra), for .venv, and the runtime dependencies alone at
# the same versions, for the container image.
lock: $(STAMP)
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --extra devstack --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile -q pyproject.toml --generate-hashes --python-version 3.11 -c requirements.lock -o requirements-runtime.lock

clean:
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
