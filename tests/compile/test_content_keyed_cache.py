"""The kernel cache is keyed by what was generated: a template edited at run time gets a
new kernel, never the one generated before it."""

from __future__ import annotations

import dataclasses
import importlib

import pytest
import sympy
import torch

import actsearch
from actsearch.compile import _cache, _codegen
from actsearch.symbolic import functions

compile_pkg = importlib.import_module("actsearch.compile")

#: tanh without its helper: a different kernel text computing the same function
SIGMOID_TANH = "(2.0 * tl.sigmoid(2.0 * {0}) - 1.0)"


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))
    compile_pkg.clear_memo()
    return tmp_path / "kernels"


@pytest.fixture
def interp():
    from actsearch.compile._triton import interpreting

    if not interpreting() and not torch.cuda.is_available():
        pytest.skip("triton was imported before TRITON_INTERPRET=1 was set (set it in conftest.py)")


def _entries(folder) -> set[str]:
    return {p.name for p in folder.glob("k*_triton.py")}


@pytest.fixture
def edited_tanh():
    """``(edit, restore)``: ``edit(how)`` prints tanh by SIGMOID_TANH from now on, through a
    row registered anew or a patched table; ``restore()`` puts the row back as it was."""
    old = functions.FUNCTIONS["tanh"]
    new = dataclasses.replace(old, triton=SIGMOID_TANH, triton_helpers=(), triton_needs=())
    state = {}
    patch = pytest.MonkeyPatch()  # its own: undoing it leaves the cache folder's setting alone

    def edit(how: str) -> None:
        if how == "registered":
            functions.unregister("tanh")
            functions.register(new)
            state["registered"] = True
        else:
            patch.setitem(functions.BY_NODE, sympy.tanh, new)

    def restore() -> None:
        if state.pop("registered", False):
            functions.unregister("tanh")
            functions.register(old)
        patch.undo()

    yield edit, restore
    restore()


@pytest.mark.parametrize("how", ["registered", "patched"])
def test_an_edited_template_gets_a_new_kernel_not_the_cached_one(how, edited_tanh, _cache_dir, interp):
    edit, restore = edited_tanh
    c = actsearch.parse("tanh(a*x) + x; a=0.7")
    x = torch.linspace(-3, 3, 257)
    before = actsearch.compile(c, backend="triton")
    first = _entries(_cache_dir)
    assert len(first) == 1 and "_tanh(" in (_cache_dir / next(iter(first))).read_text()

    edit(how)
    after = actsearch.compile(c, backend="triton")  # same process, memo not cleared
    new = _entries(_cache_dir) - first
    assert len(new) == 1, "the kernel generated before the edit was served"
    text = (_cache_dir / next(iter(new))).read_text()
    assert "tl.sigmoid(2.0 *" in text and "_tanh(" not in text
    torch.testing.assert_close(after(x), before(x), rtol=1e-5, atol=1e-6)  # both checked against eager

    restore()  # the row as it was: its kernel is the first entry again, nothing new written
    actsearch.compile(c, backend="triton")
    assert _entries(_cache_dir) == first | new


def test_the_key_covers_source_backend_and_versions(monkeypatch):
    key = _cache.content_key("triton", "src")
    assert len(key) == 32 and key == _cache.content_key("triton", "src")
    assert key != _cache.content_key("triton", "src ")
    assert key != _cache.content_key("other", "src")
    monkeypatch.setattr(_cache, "_versions", lambda: "torch 0.0; triton 0.0")
    assert key != _cache.content_key("triton", "src")


def test_a_generator_change_reaches_a_fresh_process_without_a_version_bump(monkeypatch, _cache_dir, interp):
    # what a printer edit does between two runs: the same candidate, another source
    c = actsearch.parse("w*softsign(x) + x; w=0.5")
    actsearch.compile(c, backend="triton")
    real = _codegen.generate_source
    monkeypatch.setattr(_codegen, "generate_source", lambda cand: real(cand).replace("NPARAMS", "# edited\nNPARAMS"))
    compile_pkg.clear_memo()  # a new process
    actsearch.compile(c, backend="triton")
    texts = [(_cache_dir / n).read_text() for n in _entries(_cache_dir)]
    assert len(texts) == 2 and sum("# edited" in t for t in texts) == 1
