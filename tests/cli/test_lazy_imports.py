"""``import actsearch`` and the command line's help load none of the heavy libraries.

Each check runs in a fresh interpreter and reads its ``sys.modules``: the names load
on first use (``actsearch._exports``), and every command module imports only light
modules at its top.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import actsearch

HEAVY = ("torch", "sympy", "pandas", "optuna", "ray")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_actsearch_loads_nothing_heavy():
    assert _loaded_after("import actsearch") == []


@pytest.mark.parametrize("argv", [["--help"], ["search", "--help"], ["confirm", "--help"], ["leaderboard", "--help"],
                                  ["bench-kernel", "--help"], ["benchmark", "--help"]])
def test_the_command_lines_help_loads_nothing_heavy(argv):
    code = ("import contextlib, io\nfrom actsearch.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
    assert _loaded_after(code) == []


def test_the_check_sees_a_heavy_import():
    assert _loaded_after("import actsearch\nactsearch.parse") == ["sympy", "torch"]


def test_every_public_name_resolves():
    for name in actsearch.__all__:
        assert getattr(actsearch, name) is not None, name
    assert callable(actsearch.compile) and not isinstance(actsearch.compile, type(sys))
    assert set(actsearch.__all__) <= set(dir(actsearch))
    for package in ("actsearch.compile", "actsearch.tasks", "actsearch.optimizers", "actsearch.search",
                    "actsearch.store"):
        module = __import__(package, fromlist=["_"])
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{package}.{name}"
