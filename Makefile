# The same commands for people and CI. `make run` and `make test` do all the set-up they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format venv worker web clean-data resnet152 gpu-wheels

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

## Run the application: migrations, first admin user, web server on :8000 and the Celery workers.
run: $(STAMP)
	bash scripts/run.sh

## Run the whole test suite (SQLite, then the database tests again on PostgreSQL).
test: $(STAMP)
	bash scripts/test.sh

## Unit tests only (no browser, no real worker): quick feedback while developing.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not browser and not integration" -q

## Opt-in backbone `resnet152`: ImageNet ResNet-152 weights from resmem==1.1.6 (489 MB, ResMem NON-COMMERCIAL licence).
resnet152: $(STAMP)
	$(PY) -m pip install --no-deps resmem==1.1.6

## Wheels the GPU machine lacks (it has CUDA PyTorch, Python 3.12 and no registry) into .whl, for scripts/gpu_check.sh.
gpu-wheels: $(STAMP)
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux2014_x86_64 -d .whl efficientnet-lite-pytorch==0.1.0

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
