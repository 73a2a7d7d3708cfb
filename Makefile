# MC Vision. `make run` starts the app on the embedded local cloud; `make test` runs the whole suite.
# Both install what they need into .venv first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL := sagemaker_model/build/model.tar.gz
HOST ?= 127.0.0.1
PORT ?= 8501

CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: install run test test-fast model local-up local-down browser-deps bench clean checkov-venv tf-check tf-schemas

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

model: $(MODEL)

$(MODEL): $(STAMP) sagemaker_model/build.py sagemaker_model/code/inference.py sagemaker_model/code/requirements.txt
	$(PY) -m sagemaker_model.build --out $(MODEL)

local-up: $(MODEL)
	$(PY) -m mcv_core local up --if-local

local-down:
	$(PY) -m mcv_core local down

run: local-up
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

# Debian's chromium for the browser test (playwright cannot download its own browser here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(MODEL) browser-deps checkov-venv tf-schemas
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

# checkov in its own virtual environment (it pins old packaging and networkx); tests/terraform runs it.
checkov-venv: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

# The pinned providers' schemas, from the prebuilt CDK provider packages on PyPI (pip download, no npm), one
# compact file per provider version in .cache/terraform-schemas/; rebuilt only when a pin or package changes.
tf-schemas: $(STAMP)
	$(PY) -m tests.terraform.provider_schema

# Static checks of terraform/: fmt, checkov, the pinned providers' schemas, and the HCL properties the app relies on.
tf-check: $(STAMP) $(CHECKOV_STAMP) tf-schemas
	$(PY) -m pytest tests/terraform

# Every benchmark under bench/ (figures in docs/PERFORMANCE.md); `make bench QUICK=1` for a quick look.
bench: $(MODEL) browser-deps
	$(PY) -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) sagemaker_model/build .pytest_cache .cache
