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

# Triton reads this when first imported; kernels then run on the CPU interpreter.
os.environ.setdefault("TRITON_INTERPRET", "1")

for _folder in sorted(p for p in Path(__file__).resolve().parent.iterdir() if p.is_dir() and p.name[0] not in "._"):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

import pytest  # noqa: E402


def pytest_collection_modifyitems(items):
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


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
