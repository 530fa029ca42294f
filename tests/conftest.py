"""Shared fixtures."""

from __future__ import annotations

import os

# Triton reads this when first imported; kernels then run on the CPU interpreter.
os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402


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
