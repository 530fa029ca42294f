PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-fast clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(STAMP_RUN)

# A real default search on MNIST-1D; prints the leaderboard at the end.
run: $(STAMP_RUN)
	$(BIN)/actsearch search --task mnist1d-mlp --space grammar --optimizer random --budget 12 --workers 2 --seeds 1

# the whole suite (CI runs this)
test: $(STAMP_TEST)
	$(BIN)/python -m pytest -q

# all but the Ray, PostgreSQL, cluster, subprocess and slow tests (markers: pyproject.toml)
test-fast: $(STAMP_TEST)
	$(BIN)/python -m pytest -q -m "not (ray or postgres or cluster or subprocess or slow)"

clean:
	rm -rf $(VENV) build *.egg-info
