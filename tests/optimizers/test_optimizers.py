"""Every optimiser on every search space: ask inside the space, tell ok and failed
results, state round-trip, determinism with a seed; plus per-optimiser behaviour.

The objective is synthetic and fast: ``-mean((f(x) - gelu(x))^2)`` on 64 points
of [-4, 4] (float64), written out here independently of the library's features.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

import actsearch
from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import parse
from actsearch.optimizers.evolution import RegularizedEvolution, perturb_params
from actsearch.optimizers.optuna_opt import OptunaOptimizer
from actsearch.optimizers.surrogate import SurrogateOptimizer
from actsearch.result import Result
from actsearch.search_spaces.base import SearchSpace

# ---------------------------------------------------------------------------------
# two tiny spaces, so the suite runs before (and independently of) the real ones


class ToyParamSpace(SearchSpace):
    """Infinite: three shapes with learnable a, b (continuous parameters)."""

    name = "toy"
    SHAPES = ("a*x + b*relu(x)", "a*tanh(b*x)", "a*x*sigmoid(b*x)")

    def _make(self, shape, a, b):
        return parse(f"{shape}; a={a:.6g}, b={b:.6g}", family=self.name)

    def _shape(self, c):
        for s in self.SHAPES:
            if parse(f"{s}; a=1, b=1").expr == c.expr:
                return s
        raise AssertionError(c)

    def sample(self, rng):
        return self._make(self.SHAPES[int(rng.integers(3))], rng.uniform(-1, 2), rng.uniform(-1, 2))

    def mutate(self, c, rng):
        if rng.random() < 0.5:
            return self._make(self.SHAPES[int(rng.integers(3))], c.params["a"], c.params["b"])
        return self._make(self._shape(c), c.params["a"] + rng.normal(0, 0.3), c.params["b"] + rng.normal(0, 0.3))

    def crossover(self, a, b, rng):
        return self._make(self._shape(a), a.params["a"], b.params["b"])

    def contains(self, c):
        return c.family == self.name and set(c.params) == {"a", "b"} and any(
            parse(f"{s}; a=1, b=1").expr == c.expr for s in self.SHAPES)


UNARY = {"x": "x", "neg": "-x", "abs": "abs(x)", "sq": "x**2", "tanh": "tanh(x)", "sig": "sigmoid(x)",
         "relu": "relu(x)", "sin": "sin(x)", "atan": "arctan(x)", "splus": "softplus(x)"}
BINARY = {"add": "({0}) + ({1})", "mul": "({0})*({1})", "max": "max({0}, {1})", "min": "min({0}, {1})",
          "sub": "({0}) - ({1})"}


class TinyGrammar(SearchSpace):
    """Finite: binary(unary(x), unary(x)), de-duplicated by fingerprint."""

    name = "tinygrammar"

    def __init__(self):
        self._by_ops, self._ops_of, self._members = {}, {}, []
        fps = set()
        for b, u1, u2 in itertools.product(BINARY, UNARY, UNARY):
            try:
                c = parse(BINARY[b].format(UNARY[u1], UNARY[u2]), family=self.name)
            except ActsearchError:  # e.g. x - x: constant, not a candidate
                continue
            self._by_ops[(b, u1, u2)] = c
            self._ops_of.setdefault(c.text, (b, u1, u2))
            if c.fingerprint() not in fps:
                fps.add(c.fingerprint())
                self._members.append(c)

    @property
    def finite(self):
        return True

    def enumerate(self):
        return iter(self._members)

    def sample(self, rng):
        return self._members[int(rng.integers(len(self._members)))]

    def mutate(self, c, rng):
        while True:
            ops = list(self._ops_of[c.text])
            slot = int(rng.integers(3))
            choices = list(BINARY if slot == 0 else UNARY)
            ops[slot] = choices[int(rng.integers(len(choices)))]
            if tuple(ops) in self._by_ops:
                return self._by_ops[tuple(ops)]

    def crossover(self, a, b, rng):
        oa, ob = self._ops_of[a.text], self._ops_of[b.text]
        while True:
            ops = tuple(x if rng.random() < 0.5 else y for x, y in zip(oa, ob))
            if ops in self._by_ops:
                return self._by_ops[ops]

    def contains(self, c):
        return c.family == self.name and c.text in self._ops_of


# ---------------------------------------------------------------------------------

_POINTS = torch.linspace(-4, 4, 64, dtype=torch.float64)
_TARGET = _POINTS * 0.5 * (1 + torch.erf(_POINTS / math.sqrt(2)))


def objective(c) -> Result:
    with torch.no_grad():
        y = c.module(dtype=torch.float64)(_POINTS.reshape(1, -1)).reshape(-1)
    err = float(((y - _TARGET) ** 2).mean())
    if not math.isfinite(err):
        return Result(key=c.key, text=c.text, family=c.family, status="nan", message="non-finite")
    return Result(key=c.key, text=c.text, family=c.family, score=-err)


def failed(c) -> Result:
    return Result(key=c.key, text=c.text, family=c.family, status="error", message="synthetic failure")


#: options that keep the suite fast; behaviour is the same, just smaller pools
FAST = {
    "random": {},
    "evolution": {"population_size": 6, "sample_size": 3},
    "surrogate": {"n_initial": 4, "pool_size": 12},
    "optuna": {"pool_size": 64, "n_startup_trials": 4},
}


def make(name, space, seed=0, **options):
    """Through the optimiser registry; ours are added directly while it lacks them."""
    from actsearch.optimizers.registry import OPTIMIZERS, get_optimizer

    opts = {**FAST.get(name, {}), **options}
    if name in OPTIMIZERS:
        return get_optimizer(name, space, seed=seed, **opts)
    cls = {"evolution": RegularizedEvolution, "surrogate": SurrogateOptimizer, "optuna": OptunaOptimizer}[name]
    return cls(space, seed=seed, **opts)


def _optimizer_names():
    from actsearch.optimizers.registry import OPTIMIZERS

    return sorted(set(OPTIMIZERS) | {"evolution", "surrogate", "optuna"})


_TINY = {"toy": ToyParamSpace, "tinygrammar": TinyGrammar}
_SPACE_CACHE: dict[str, SearchSpace] = {}


def _space(name):
    if name not in _SPACE_CACHE:
        if name in _TINY:
            _SPACE_CACHE[name] = _TINY[name]()
        else:
            _SPACE_CACHE[name] = actsearch.space(name)
    return _SPACE_CACHE[name]


SPACES = sorted(_TINY) + actsearch.spaces()
OPTIMIZERS = _optimizer_names()
#: the surrogate fits a model at every ask: its runs of the longer suites are slow
OPTIMIZERS_SURROGATE_SLOW = [pytest.param(n, marks=pytest.mark.slow) if n == "surrogate" else n for n in OPTIMIZERS]


def run(opt, steps, fail_every=4):
    """Ask/tell ``steps`` times; every ``fail_every``-th result is a failure."""
    asked = []
    for i in range(steps):
        c = opt.ask()
        asked.append(c)
        opt.tell(c, failed(c) if (i + 1) % fail_every == 0 else objective(c))
    return asked


# ---------------------------------------------------------------------------------
# the parametrised suite


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("opt_name", OPTIMIZERS_SURROGATE_SLOW)
def test_ask_inside_space_and_tell_ok_and_failed(opt_name, space_name):
    space = _space(space_name)
    opt = make(opt_name, space, seed=1)
    asked = run(opt, 14)
    for c in asked:
        assert isinstance(c, actsearch.Candidate)
        assert space.contains(c), (opt_name, c)


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("opt_name", OPTIMIZERS_SURROGATE_SLOW)
def test_state_round_trip_continues_exactly(opt_name, space_name):
    space = _space(space_name)
    opt = make(opt_name, space, seed=3)
    run(opt, 10)
    state = json.loads(json.dumps(opt.state_dict()))  # must be JSON-serialisable
    restored = make(opt_name, space, seed=3)
    restored.load_state_dict(state)
    for i in range(5):
        a, b = opt.ask(), restored.ask()
        assert a.text == b.text, (opt_name, i)
        result = objective(a)
        opt.tell(a, result)
        restored.tell(b, result)


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("opt_name", OPTIMIZERS_SURROGATE_SLOW)
def test_same_seed_same_proposals(opt_name, space_name):
    space = _space(space_name)
    first = [c.text for c in run(make(opt_name, space, seed=7), 12)]
    again = [c.text for c in run(make(opt_name, space, seed=7), 12)]
    other = [c.text for c in run(make(opt_name, space, seed=8), 12)]
    assert first == again
    assert first != other


def test_round_trip_with_pending_candidates():
    """Asked-but-not-told candidates survive a restore and can still be told."""
    space = TinyGrammar()
    for name in ("evolution", "surrogate", "optuna"):
        opt = make(name, space, seed=5)
        run(opt, 8)
        pending = [opt.ask(), opt.ask()]
        restored = make(name, space, seed=5)
        restored.load_state_dict(json.loads(json.dumps(opt.state_dict())))
        for c in pending:
            opt.tell(c, objective(c))
            restored.tell(c, objective(c))
        assert opt.ask().text == restored.ask().text, name


# ---------------------------------------------------------------------------------
# evolution


def test_evolution_never_repeats_while_alternatives_exist():
    space = TinyGrammar()
    opt = make("evolution", space, seed=0)
    fps = [c.fingerprint() for c in run(opt, 60)]
    assert len(set(fps)) == len(fps)


def test_evolution_aging_removes_oldest_not_worst():
    space = TinyGrammar()
    opt = RegularizedEvolution(space, seed=0, population_size=3, sample_size=2)
    members = list(space.enumerate())[:4]
    scores = [0.9, 0.1, 0.2, 0.3]  # the best is the oldest
    for c, s in zip(members, scores):
        opt.tell(c, Result(key=c.key, text=c.text, score=s))
    assert [c.text for c, _ in opt.population] == [c.text for c in members[1:]]


def test_evolution_tournament_picks_best_and_failures_rank_last():
    space = TinyGrammar()
    opt = RegularizedEvolution(space, seed=0, population_size=4, sample_size=4)
    members = list(space.enumerate())[:4]
    opt.tell(members[0], failed(members[0]))
    for c, s in zip(members[1:], [-5.0, -1.0, -3.0]):
        opt.tell(c, Result(key=c.key, text=c.text, score=s))
    assert opt._tournament() == members[2]
    # all failed but one: the one success wins every full tournament
    opt2 = RegularizedEvolution(space, seed=0, population_size=4, sample_size=4)
    for c in members[:3]:
        opt2.tell(c, failed(c))
    opt2.tell(members[3], Result(key="k", text=members[3].text, score=-100.0))
    assert opt2._tournament() == members[3]


def test_evolution_samples_until_population_is_full():
    space = TinyGrammar()
    opt = RegularizedEvolution(space, seed=4, population_size=5, sample_size=2, max_tries=1)
    reference = np.random.default_rng(4)
    for _ in range(5):  # nothing told yet: pure samples, in the rng's order
        assert opt.ask() == space.sample(reference)


def test_perturb_params_moves_parameters_and_keeps_formula():
    rng = np.random.default_rng(0)
    c = parse("a*x + b*relu(x) + d*tanh(x); a=0.5, b=0, d=-2")
    changed = 0
    for _ in range(50):
        p = perturb_params(c, rng, sigma=0.2)
        assert p.expr == c.expr and set(p.params) == set(c.params)
        diffs = [abs(p.params[k] - c.params[k]) for k in c.params]
        assert any(d > 0 for d in diffs)
        changed += sum(d > 0 for d in diffs)
        # the noise scale floor: b = 0 still moves, by about 0.2 * 0.1
        assert abs(p.params["b"]) < 0.2 * 0.1 * 6
    assert changed > 50  # about half of 3 parameters on average, not always one
    plain = parse("relu(x)")
    assert perturb_params(plain, rng) is plain


def test_evolution_mutates_numeric_parameters():
    space = ToyParamSpace()
    opt = RegularizedEvolution(space, seed=0, population_size=4, sample_size=2,
                               crossover_prob=0.0, param_mutation_prob=1.0)
    run(opt, 30)
    assert opt.told == 30


@pytest.mark.parametrize("bad", [dict(population_size=1), dict(sample_size=0), dict(sample_size=30),
                                 dict(crossover_prob=1.5), dict(param_sigma=-1), dict(max_tries=0)])
def test_evolution_rejects_bad_options(bad):
    with pytest.raises(ActsearchError, match=next(iter(bad))):
        RegularizedEvolution(TinyGrammar(), seed=0, **bad)


# ---------------------------------------------------------------------------------
# surrogate


def test_surrogate_never_reproposes_asked_or_failed():
    space = TinyGrammar()
    opt = make("surrogate", space, seed=0)
    asked = run(opt, 40, fail_every=2)
    fps = [c.fingerprint() for c in asked]
    assert len(set(fps)) == len(fps)


def test_surrogate_ranks_the_whole_finite_space_after_initial_design():
    """With a perfect-information objective the model's pick beats the random design."""
    space = TinyGrammar()
    opt = SurrogateOptimizer(space, seed=0, n_initial=6, model="knn")
    initial = run(opt, 6, fail_every=10**9)
    best_initial = max(objective(c).score for c in initial)
    later = run(opt, 15, fail_every=10**9)
    assert max(objective(c).score for c in later) > best_initial


def test_surrogate_pool_covers_the_grammar_catalog_and_never_asks_a_member_twice():
    space = actsearch.space("grammar", unary="identity,neg,tanh,relu,sigmoid,sin", shapes="1,3")
    opt = SurrogateOptimizer(space, seed=1, n_initial=3)
    asked = run(opt, 25, fail_every=7)
    pool = opt.pool()
    assert len(pool) == len(space.catalog()) and pool.features.shape == (len(pool), opt.features.dim)
    members = [pool.index(c) for c in asked]
    assert None not in members and len(set(members)) == len(members) == 25
    assert len({c.fingerprint() for c in asked}) == 25


def test_warm_start_ranks_by_the_other_task_until_this_one_takes_over():
    """A prior of (candidate, score) pairs from another task: the first asks follow it."""
    space = TinyGrammar()
    members = list(space.enumerate())
    scores = [objective(c).score for c in members]
    prior = list(zip(members, scores))
    best = sorted(range(len(members)), key=lambda i: -scores[i])[:8]
    warm = SurrogateOptimizer(space, seed=0, n_initial=6, prior=prior)
    first = warm.ask()
    assert members.index(first) in best  # the prior model's top ranks, before any result of this task
    cold = SurrogateOptimizer(space, seed=0, n_initial=6)
    firsts_cold = [cold.ask() for _ in range(3)]
    assert not all(members.index(c) in best for c in firsts_cold)  # random designs
    # with no weight the prior changes nothing: the same proposals as a cold start
    off = SurrogateOptimizer(space, seed=0, n_initial=6, prior=prior, prior_weight=0)
    again = SurrogateOptimizer(space, seed=0, n_initial=6)
    assert [c.text for c in run(off, 8)] == [c.text for c in run(again, 8)]
    with pytest.raises(ActsearchError, match="prior_weight"):
        SurrogateOptimizer(space, seed=0, prior=prior, prior_weight=-1)


@pytest.mark.parametrize("model", ["knn", "gp", "rf"])
@pytest.mark.parametrize("acquisition", ["ucb", "ei"])
def test_surrogate_models_and_acquisitions_run_on_infinite_space(model, acquisition):
    opt = SurrogateOptimizer(ToyParamSpace(), seed=0, model=model, acquisition=acquisition,
                             n_initial=3, pool_size=10)
    asked = run(opt, 7)
    assert all(ToyParamSpace().contains(c) for c in asked)


@pytest.mark.parametrize("bad", [dict(model="svm"), dict(acquisition="pi"), dict(n_initial=1), dict(pool_size=0)])
def test_surrogate_rejects_bad_options(bad):
    with pytest.raises(ActsearchError, match=str(next(iter(bad.values())))):
        SurrogateOptimizer(TinyGrammar(), seed=0, **bad)


# ---------------------------------------------------------------------------------
# optuna


def test_optuna_params_mode_stays_in_range_around_the_template():
    space = ToyParamSpace()
    opt = OptunaOptimizer(space, seed=0, preset="a*x + b*relu(x); a=0.2, b=-3", width=1.0, min_width=0.5)
    assert opt.mode == "params" and opt.template.family == "toy"
    for c in run(opt, 20):
        assert c.expr == opt.template.expr
        assert -0.3 <= c.params["a"] <= 0.7  # w = max(1.0 * 0.2, 0.5) = 0.5
        assert -6.0 <= c.params["b"] <= 0.0  # w = 3


def test_optuna_tpe_improves_on_its_random_startup():
    """Quadratic bowl in (a, b): after the random startup TPE's picks are better on average."""
    space = ToyParamSpace()
    opt = OptunaOptimizer(space, seed=0, preset="a*x + b*relu(x); a=0, b=0", n_startup_trials=10)
    values = []
    for _ in range(60):
        c = opt.ask()
        v = -((c.params["a"] - 0.3) ** 2 + (c.params["b"] + 0.2) ** 2)
        values.append(v)
        opt.tell(c, Result(key=c.key, text=c.text, score=v))
    assert np.mean(values[-20:]) > np.mean(values[:10])


def test_optuna_choice_mode_on_finite_space_and_enqueued_tell():
    space = TinyGrammar()
    opt = OptunaOptimizer(space, seed=0)
    assert opt.mode == "choice" and len(opt.choices) == len(list(space.enumerate()))
    asked = run(opt, 30)
    assert len({c.fingerprint() for c in asked}) == len(asked)  # repeats are redrawn
    outsider = list(space.enumerate())[-1]
    n = len(opt.study.trials)
    opt.tell(outsider, objective(outsider))  # never asked: added as a finished trial
    assert len(opt.study.trials) == n + 1 and opt.study.trials[-1].value == objective(outsider).score


def test_optuna_failures_are_failed_trials_or_failure_score():
    from optuna.trial import TrialState

    space = TinyGrammar()
    for score, state in ((None, TrialState.FAIL), (-9.0, TrialState.COMPLETE)):
        opt = OptunaOptimizer(space, seed=0, failure_score=score)
        c = opt.ask()
        opt.tell(c, failed(c))
        assert opt.study.trials[-1].state == state and opt.study.trials[-1].value == score


def test_optuna_cmaes_on_continuous_parameters():
    pytest.importorskip("cmaes")
    opt = OptunaOptimizer(ToyParamSpace(), seed=0, sampler="cmaes", preset="a*tanh(b*x); a=1, b=1",
                          n_startup_trials=0)
    run(opt, 8)
    restored = OptunaOptimizer(ToyParamSpace(), seed=0, sampler="cmaes", preset="a*tanh(b*x); a=1, b=1",
                               n_startup_trials=0)
    restored.load_state_dict(json.loads(json.dumps(opt.state_dict())))
    assert opt.ask().text == restored.ask().text


@pytest.mark.parametrize("bad,match", [(dict(sampler="grid"), "sampler"), (dict(mode="x"), "mode"),
                                       (dict(mode="params"), "parameters"), (dict(min_width=0), "min_width")])
def test_optuna_rejects_bad_options(bad, match):
    with pytest.raises(ActsearchError, match=match):
        OptunaOptimizer(TinyGrammar(), seed=0, **bad)


def test_optuna_rejects_state_from_another_template():
    a = OptunaOptimizer(ToyParamSpace(), seed=0, preset="a*x + b*relu(x); a=0, b=0")
    b = OptunaOptimizer(ToyParamSpace(), seed=0, preset="a*tanh(b*x); a=1, b=1")
    with pytest.raises(ActsearchError, match="template"):
        b.load_state_dict(a.state_dict())
