"""Shared fixtures, and the markers that sort the suite into tiers.

The tests mirror the code's folders (``tests/store/`` for ``actsearch/store/``, ...).
Every folder of tests is on ``sys.path``, as the flat folder was: test modules
import helpers from one another by module name (``from test_optimizers import
TinyGrammar``), and a search's trials import a test's task the same way
(``--task test_faults:faulty``).  Test file names are unique across folders.

Markers (``pyproject.toml``): ``ray`` (starts or uses a Ray instance; every test that
takes the ``ray_session`` fixture gets it here), ``postgres`` (a PostgreSQL server),
``cluster`` (``ray start`` clusters), ``subprocess`` (runs searches or drivers in
processes of their own), ``slow`` (long CPU work: compiles, training, replays).
``make test-fast`` runs the rest; ``make test`` runs everything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: set by benchmarks/gpu_check.py for its pytest run of the ``gpu`` tests on a CUDA machine
GPU_SESSION = os.environ.get("ACTSEARCH_GPU_TESTS") == "1"

# Triton reads this when first imported; kernels then run on the CPU interpreter.
# A GPU session leaves it unset: its kernels are compiled for the GPU.
if not GPU_SESSION:
    os.environ.setdefault("TRITON_INTERPRET", "1")

# pytest-xdist's workers set COLUMNS=80 and LINES=24: tables would fit the test runner's
# terminal; every test sees what a pipe gives (the tests of widths set their own)
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

for _folder in sorted(p for p in Path(__file__).resolve().parent.iterdir() if p.is_dir() and p.name[0] not in "._"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

import pytest  # noqa: E402


def gpu_skip_reason() -> str:
    """Why the ``gpu`` tests cannot run in this process ("" when they can): they need
    CUDA and compiled kernels, never Triton's interpreter."""
    import torch

    if not torch.cuda.is_available():
        return "no CUDA"
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        return "the Triton interpreter is on (the gpu tests run from benchmarks/gpu_check.py, ACTSEARCH_GPU_TESTS=1)"
    return ""


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)
        for kind in ("cluster", "postgres"):  # servers of their own: one at a time, on one xdist worker
            if item.get_closest_marker(kind):
                item.add_marker(pytest.mark.xdist_group(kind))
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    why = gpu_skip_reason() if gpu else ""
    for item in gpu if why else ():
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray instance with 2 CPUs, shared by every test that needs Ray."""
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import logging

    import ray

    started = not ray.is_initialized()
    if started:
        # a private instance, as a search starts one: never a `ray start` cluster on the machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
    yield ray
    if started:
        ray.shutdown()
