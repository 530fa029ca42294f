"""swap_activations on a ResNet-style block: what it replaces, and what it says it cannot do right."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import actsearch
from actsearch.swap import SwapWarning, swap_activations


class BasicBlock(nn.Module):
    """torchvision's BasicBlock in small: one ``self.relu`` called twice."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width)
        self.conv2, self.bn2 = nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Net(nn.Module):
    def __init__(self, functional: bool = False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv1d(2, 8, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(BasicBlock(), BasicBlock())
        self.head = nn.Linear(8, 3)
        self.functional = functional

    def forward(self, x):
        out = self.blocks(self.stem(x)).mean(-1)
        if self.functional:
            out = F.relu(out) + out.relu()  # the line the warning must name
        return self.head(out)


def _swap(model, example=None, old=nn.ReLU):
    cand = actsearch.parse("x*sigmoid(a*x); a=1.5")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = swap_activations(model, old, cand.module, example=example)
    return report, [str(w.message) for w in caught if issubclass(w.category, SwapWarning)]


@pytest.mark.parametrize("example", [None, torch.randn(4, 2, 16)], ids=["fx", "example"])
def test_a_module_called_twice_is_said_to_be_shared(example):
    model = Net()
    report, said = _swap(model, example)
    assert report.replaced == ["stem.1", "blocks.0.relu", "blocks.1.relu"] and len(report) == 3
    assert report.shared == {"blocks.0.relu": 2, "blocks.1.relu": 2}
    assert report.traced == ("fx" if example is None else "example") and report.functional == []
    [warning] = said
    assert "blocks.0.relu (2 calls)" in warning and "shared" in warning and "stem.1" not in warning
    # what the warning says is what happened: both calls of a block go through one module
    block = model.blocks[0]
    calls = []
    block.relu.register_forward_hook(lambda m, i, o: calls.append(id(m)))
    model(torch.randn(4, 2, 16))
    assert len(calls) == 2 and len(set(calls)) == 1


@pytest.mark.parametrize("example", [None, torch.randn(4, 2, 16)], ids=["fx", "example"])
def test_functional_activations_it_cannot_reach_are_named_with_their_line(example):
    import inspect

    model = Net(functional=True)
    report, said = _swap(model, example)
    line = next(i for i, text in enumerate(inspect.getsource(Net).splitlines()) if "F.relu(out)" in text)
    line += inspect.getsourcelines(Net)[1]
    assert report.functional == [f"torch.nn.functional.relu at test_swap.py:{line}", f"Tensor.relu at test_swap.py:{line}"]
    assert any("cannot reach 2 functional activation call(s)" in s and f"test_swap.py:{line}" in s for s in said)
    assert len(report) == 3  # the modules were swapped all the same


def test_functional_forms_of_other_activations_are_not_reported():
    model = Net(functional=True)
    report, said = _swap(model, torch.randn(4, 2, 16), old=nn.GELU)  # no GELU anywhere: nothing to do
    assert len(report) == 0 and report.functional == [] and said == []


def test_one_module_under_two_names_becomes_two_without_a_warning():
    shared = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 3), shared, nn.Linear(3, 3), shared)
    report, said = _swap(model, torch.randn(2, 3))
    assert report.replaced == ["1", "3"] and report.shared == {} and said == []
    assert model[1] is not model[3]


def test_a_model_fx_cannot_trace_is_swapped_with_a_warning_that_says_how_to_check():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(x) if x.sum() > 0 else -x  # data-dependent: fx cannot trace it

    model = Branchy()
    report, said = _swap(model)
    assert report.replaced == ["act"] and report.traced == ""
    assert len(said) == 1 and "example=INPUT" in said[0]
    report, said = _swap(Branchy(), torch.ones(2))
    assert report.traced == "example" and said == []
