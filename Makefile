# MC Vision. `make run` starts the app on the embedded local cloud; `make test` runs the whole suite.
# Both install what they need into .venv first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL := sagemaker_model/build/model.tar.gz
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: install run test test-fast model local-up local-down browser-deps bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

model: $(MODEL)

$(MODEL): $(STAMP) sagemaker_model/build.py sagemaker_model/code/inference.py sagemaker_model/code/requirements.txt
	$(PY) -m sagemaker_model.build --out $(MODEL)

local-up: $(MODEL)
	$(PY) -m mcv_core local up

local-down:
	$(PY) -m mcv_core local down

run: local-up
	$(PY) -m streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

# Debian's chromium for the browser test (playwright cannot download its own browser here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: $(MODEL) browser-deps
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

bench: $(MODEL)
	$(PY) -m bench

clean:
	rm -rf $(VENV) sagemaker_model/build .pytest_cache
