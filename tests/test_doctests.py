"""The ``>>>`` examples in the docstrings run: one test per module of actsearch,
actsearch.search_spaces and actsearch.surrogates (imported under their installed
names, so each module is imported once).

Examples are run with ELLIPSIS and NORMALIZE_WHITESPACE, one torch thread; a
module that cannot be imported here is skipped only for a missing optional
dependency.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import torch

import actsearch
import actsearch.search_spaces
import actsearch.surrogates

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    names = []
    for package in (actsearch, actsearch.search_spaces, actsearch.surrogates):
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return sorted(set(names))


def _with_examples(name: str) -> bool:
    try:
        module = importlib.import_module(name)
    except ImportError:
        return True  # reported by the test
    return any(t.examples for t in doctest.DocTestFinder().find(module, name))


MODULES = [n for n in _module_names() if _with_examples(n)]


def test_the_modules_with_examples_are_found():
    assert {"actsearch.symbolic.expr", "actsearch.optimizers.evolution", "actsearch.search_spaces.rational",
            "actsearch.surrogates.models", "actsearch.testing"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # an example that writes a default file writes it here
    torch.set_num_threads(1)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
