# Two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The integration scripts are Python without a .py suffix: name them so ruff checks them too.
LINT := bot scripts tests bench $(shell find scripts -type f -perm -u+x ! -name '*.py' ! -path '*/__pycache__/*')

.PHONY: run test lint bench check clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/bot serve

test: $(STAMP)
	$(BIN)/ruff check $(LINT)
	$(BIN)/bot registry check
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check $(LINT)

check: $(STAMP)
	$(BIN)/bot registry check

bench: $(STAMP)
	$(BIN)/python bench/router.py
	$(BIN)/python bench/learning.py
	$(BIN)/python bench/context.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/slack_load.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/replicas.py
	$(BIN)/python bench/reaper.py

clean:
	rm -rf $(VENV) .bot
