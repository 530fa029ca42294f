PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-fast clean gpu-check gpu-bundle

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

# the whole suite (CI runs this), on TEST_WORKERS processes (pytest-xdist; 0: in this one);
# tests that start servers of their own (cluster, postgres) run one at a time
TEST_WORKERS ?= 2
test: $(STAMP_TEST)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# all but the Ray, PostgreSQL, cluster, subprocess and slow tests (markers: pyproject.toml)
test-fast: $(STAMP_TEST)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not (ray or postgres or cluster or subprocess or slow)"

# Here, where pip reaches a registry: what a GPU machine needs and lacks (MNIST-1D data,
# Optuna's wheels for its Python 3.12), in .gpubundle/ (git-ignored, about 6 MiB).
gpu-bundle: $(STAMP_TEST)
	$(BIN)/python benchmarks/gpu_check.py --prepare .gpubundle

# On a GPU machine (torch and triton installed, offline): correctness on CUDA, a search
# without Ray, the figures and a summary, in about 8 minutes; files in $$OUT or gpu-check-out/.
# GPU_PY is the interpreter that holds torch there (not this venv); .gpubundle/ is used when present.
GPU_PY ?= python3
gpu-check:
	$(GPU_PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) build *.egg-info
