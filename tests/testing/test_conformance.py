"""Every registered implementation passes its conformance check (actsearch.testing),
the checks name the flaw of broken ones, and a new optimiser is one module that
passes check_optimizer and runs a search driver's loop.

Backends: tests/compile/test_backends.py runs check_backend over every registered backend.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

import actsearch
from actsearch.optimizers.base import Optimizer
from actsearch.optimizers.random import RandomSearch
from actsearch.optimizers.registry import OPTIMIZERS, get_optimizer
from actsearch.search_spaces.base import SearchSpace
from actsearch.tasks import TASKS, get_task
from actsearch.testing import check_optimizer, check_space, check_task
from actsearch.testing._optimizer import default_space, synthetic_result


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# -- every registered implementation -------------------------------------------------

@pytest.mark.parametrize("name", actsearch.spaces())
def test_every_space_passes_check_space(name):
    check_space(actsearch.space(name))


def test_a_space_with_poles_passes_check_space_without_finiteness():
    check_space(actsearch.space("grammar", unary="identity,tanh,square", binary="all", shapes=1), finite=False)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_passes_check_optimizer(name):
    check_optimizer(OPTIMIZERS.load(name))


def test_check_optimizer_on_a_space_with_parameters():
    space = actsearch.space("entropy")
    check_optimizer(lambda s, seed: get_optimizer("optuna", s, seed=seed, preset="crrelu", n_startup_trials=2),
                    space=space)


def _cifar10(tmp_path, monkeypatch):
    """The CIFAR-10 task on a small generated archive in the official format (no download)."""
    from test_tasks import _write_archive

    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path / "cache"))
    _write_archive(tmp_path / "cifar.tar.gz")
    return get_task("cifar10-resnet", archive=str(tmp_path / "cifar.tar.gz"), expected_md5=None, subset=64,
                    test_subset=16, batch_size=32)


#: built-in task -> a 1-epoch-cheap instance (the defaults, except where an epoch is long)
SMALL_TASKS = {
    "cifar10-resnet": _cifar10,
    "charlm": lambda tmp_path, monkeypatch: get_task("charlm", steps_per_epoch=10),
}


@pytest.mark.parametrize("name", TASKS.names())
def test_every_builtin_task_passes_check_task(name, tmp_path, monkeypatch):
    make = SMALL_TASKS.get(name)
    check_task(make(tmp_path, monkeypatch) if make else get_task(name), budget=1)


# -- the checks name what is broken --------------------------------------------------

class _Leaky(SearchSpace):
    """The polynomial space, except that ``mutate`` can leave it."""

    name = "polynomial"

    def __init__(self):
        self.inner = actsearch.space("polynomial", kind="polyrelu")

    def sample(self, rng):
        return self.inner.sample(rng)

    def mutate(self, candidate, rng):
        return actsearch.parse("w0*tanh(x) + b; w0=1, b=0", family="polynomial")

    def crossover(self, a, b, rng):
        return self.inner.crossover(a, b, rng)

    def contains(self, candidate):
        return self.inner.contains(candidate)


def test_check_space_names_a_mutation_outside_the_space():
    with pytest.raises(AssertionError, match=r"search space 'polynomial': mutate\(\) \(seed 0\) gave .*tanh.*"
                                             "which contains"):
        check_space(_Leaky())


class _Forgetful(RandomSearch):
    """Random search that forgets its generator's state when saved."""

    name = "forgetful"
    saved = {}

    def load_state_dict(self, state):
        pass


class _Repeating(RandomSearch):
    """Proposes a candidate outside the space after a while."""

    name = "repeating"

    def ask(self):
        self.asked += 1
        return actsearch.preset("relu") if self.asked > 3 else self.space.sample(self.rng)


@pytest.mark.parametrize("cls, message", [
    (_Forgetful, r"optimizer 'forgetful': after load_state_dict, proposal 1 is"),
    (_Repeating, r"optimizer 'repeating': ask\(\) returned 'relu\(x\)', outside the space"),
])
def test_check_optimizer_names_the_flaw(cls, message):
    with pytest.raises(AssertionError, match=message):
        check_optimizer(cls)


def test_check_task_names_a_task_that_does_not_report():
    class Silent(type(get_task("mnist1d-mlp"))):
        name = "silent"

        def train(self, act_factory, budget=None, seed=0, report=None):
            return super().train(act_factory, budget, seed, None)

    with pytest.raises(AssertionError, match=r"task 'silent': report\(\) was called for epochs \[\], not 1..1"):
        check_task(Silent())


# -- a new optimiser is one module -----------------------------------------------------

NEW_OPTIMIZER = '''
"""Hill climbing: mutate the best candidate so far."""

from actsearch.optimizers.base import INT, Optimizer, scored


class HillClimb(Optimizer):
    name = "hill-climb"
    saved = {"best": scored("score"), "told": INT}

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self.best, self.told = [], 0

    def ask(self):
        if not self.best:
            return self.space.sample(self.rng)
        return self.space.mutate(self.best[0][0], self.rng)

    def tell(self, candidate, result):
        self.told += 1
        if result.ok and self.space.contains(candidate) and (not self.best or result.score > self.best[0][1]):
            self.best = [(candidate, float(result.score))]
'''


class _FakeStoredSearch:
    """What the driver needs of a stored search, in memory."""

    name = "fake"

    def __init__(self):
        self.records, self.states = [], []

    def results(self):
        return list(self.records)

    def start(self, candidate, fingerprint, protected):
        return len(self.records)

    def record(self, result, optimizer_state=None, trial=None, params=None):
        self.records.append(result)
        self.states.append(optimizer_state)


def test_a_new_optimizer_is_one_module(tmp_path, monkeypatch):
    from actsearch.search.driver import Driver, TrialDefaults

    (tmp_path / "hill_climb_for_test.py").write_text(textwrap.dedent(NEW_OPTIMIZER))
    monkeypatch.syspath_prepend(str(tmp_path))
    OPTIMIZERS.register("hill-climb", "hill_climb_for_test:HillClimb")
    try:
        assert "hill-climb" in actsearch.optimizers.registry.optimizers()
        check_optimizer(OPTIMIZERS.load("hill-climb"))
        space = default_space()
        stored = _FakeStoredSearch()
        defaults = TrialDefaults(task="fake", task_options={}, task_spec="fake", metric="score", epochs=1,
                                 seeds=(0,), backend="eager", device="cpu", precision="fp32", early_stop=False,
                                 trial_timeout=None)
        driver = Driver(stored, get_optimizer("hill-climb", space, seed=0), [], defaults, budget=2, known={})
        for trial in range(10):
            spec = driver.suggest(str(trial))
            if spec is None:
                break
            driver.complete(str(trial), synthetic_result(actsearch.parse(spec.text, family=spec.family), trial))
        assert driver.finished and len(stored.records) == 2
        assert [s["told"] for s in stored.states] == [1, 2]
        assert all(space.contains(actsearch.parse(r.text, family=r.family)) for r in stored.records)
    finally:
        OPTIMIZERS.unregister("hill-climb")
        sys.modules.pop("hill_climb_for_test", None)
    assert "hill-climb" not in OPTIMIZERS


def test_registry_refuses_clashes_and_keeps_builtins():
    with pytest.raises(actsearch.ActsearchError, match="optimizer 'random' is already registered"):
        OPTIMIZERS.register("random", RandomSearch)
    with pytest.raises(actsearch.ActsearchError, match="built in"):
        OPTIMIZERS.unregister("random")
    with pytest.raises(actsearch.ActsearchError, match="unknown optimizer 'nope'; choose one of: evolution, optuna"):
        get_optimizer("nope", default_space())
    assert isinstance(get_optimizer("random", default_space()), Optimizer)
