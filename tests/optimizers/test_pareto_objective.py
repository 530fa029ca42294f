"""``objective="pareto"``: the optimisers that learn keep the front of score against cost.

On a space where score and cost are in conflict (the dearer formulas score higher),
an optimiser told results proposes cheaper candidates under ``pareto`` than under
``score``; its state round-trips exactly (the conformance check), and the optimisers
that cannot weigh cost say so in one line.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import actsearch
from actsearch.errors import ActsearchError
from actsearch.optimizers._pareto import scalarised, standardised
from actsearch.optimizers.evolution import RegularizedEvolution
from actsearch.optimizers.registry import get_optimizer, optimizer_options
from actsearch.optimizers.surrogate import SurrogateOptimizer
from actsearch.result import Result
from actsearch.search_spaces.base import SearchSpace
from actsearch.symbolic.cost import formula_cost
from actsearch.symbolic.expr import parse
from actsearch.testing import check_optimizer

TERMS = ("relu(x)", "x**2", "abs(x)", "tanh(x)", "sin(x)", "exp(-x**2)", "x*sigmoid(x)", "erf(x)", "gelu(x)",
         "arctan(x)")


class SumsOfTerms(SearchSpace):
    """Finite: sums of one to four distinct terms; a child adds, drops or swaps one term."""

    name = "sums"

    def __init__(self):
        self._terms_of, self._members = {}, []
        for k in range(1, 5):
            for terms in itertools.combinations(range(len(TERMS)), k):
                c = parse(" + ".join(TERMS[t] for t in terms), family=self.name)
                if c.text not in self._terms_of:
                    self._terms_of[c.text] = frozenset(terms)
                    self._members.append(c)
        self._by_terms = {v: k for k, v in self._terms_of.items()}

    @property
    def finite(self):
        return True

    def enumerate(self):
        return iter(self._members)

    def sample(self, rng):
        return self._members[int(rng.integers(len(self._members)))]

    def _of(self, terms) -> actsearch.Candidate:
        return parse(self._by_terms[frozenset(terms)], family=self.name)

    def mutate(self, c, rng):
        if c.text not in self._terms_of:  # a reference the search told: start afresh
            return self.sample(rng)
        while True:
            terms = set(self._terms_of[c.text])
            t = int(rng.integers(len(TERMS)))
            terms ^= {t}
            if frozenset(terms) in self._by_terms:
                return self._of(terms)

    def crossover(self, a, b, rng):
        if a.text not in self._terms_of or b.text not in self._terms_of:
            return self.mutate(a, rng)
        while True:
            terms = {t for t in self._terms_of[a.text] | self._terms_of[b.text] if rng.random() < 0.5}
            if frozenset(terms) in self._by_terms:
                return self._of(terms)

    def contains(self, c):
        return c.family == self.name and c.text in self._terms_of


def conflicted(c) -> Result:
    """The dearer, the better: the score grows with the formula's cost (plus fixed noise per formula)."""
    noise = (zlib.crc32(c.text.encode()) % 1000) / 1000 - 0.5
    return Result(key=c.key, text=c.text, family=c.family, score=float(formula_cost(c.expr)) / 10 + noise)


def _proposal_costs(opt, warmup: int, measured: int) -> list[int]:
    costs = []
    for step in range(warmup + measured):
        c = opt.ask()
        opt.tell(c, conflicted(c))
        if step >= warmup:
            costs.append(formula_cost(c.expr))
    return costs


MAKERS = {
    "surrogate": lambda space, seed, objective: SurrogateOptimizer(space, seed=seed, n_initial=6,
                                                                   objective=objective),
    "evolution": lambda space, seed, objective: RegularizedEvolution(space, seed=seed, population_size=8,
                                                                     sample_size=3, objective=objective),
}


@pytest.fixture(scope="module")
def space():
    return SumsOfTerms()


def test_the_space_puts_score_and_cost_in_conflict(space):
    members = list(space.enumerate())
    costs = [formula_cost(c.expr) for c in members]
    scores = [conflicted(c).score for c in members]
    assert len(members) > 300 and max(costs) > 5 * min(costs)
    assert np.corrcoef(costs, scores)[0, 1] > 0.9


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_pareto_proposes_cheaper_candidates_than_score(space, name):
    by_objective = {}
    for objective in ("score", "pareto"):
        by_objective[objective] = [cost for seed in range(3) for cost in
                                   _proposal_costs(MAKERS[name](space, seed, objective), warmup=12, measured=20)]
    score, pareto = (float(np.mean(by_objective[o])) for o in ("score", "pareto"))
    # score alone climbs towards the dearest sums; the front keeps cheap ones too
    assert pareto < 0.8 * score, (pareto, score)
    # and the front is still explored at its expensive end, not only at the cheapest corner
    assert max(by_objective["pareto"]) > np.median(by_objective["score"])


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_pareto_state_round_trips_and_passes_the_conformance_check(space, name):
    check_optimizer(lambda s, seed: MAKERS[name](s, seed, "pareto"), space=space, steps=12)
    a = MAKERS[name](space, 5, "pareto")
    _proposal_costs(a, warmup=10, measured=0)
    b = MAKERS[name](space, 5, "pareto")
    b.load_state_dict(a.state_dict())
    for _ in range(5):
        ca, cb = a.ask(), b.ask()
        assert ca.text == cb.text
        a.tell(ca, conflicted(ca))
        b.tell(cb, conflicted(cb))


def test_scalarisation_weighs_score_against_cost():
    score, cost = np.array([1.0, 2.0, 3.0, -np.inf]), np.array([1.0, 5.0, 9.0, 0.0])
    assert np.argmax(scalarised(score, cost, 1.0)) == 2 and np.argmax(scalarised(score, cost, 0.0)) == 0
    # a failure (-inf) stays last whatever the weight, even where cost alone counts
    assert scalarised(score, cost, 0.0)[3] == -np.inf
    z = standardised(np.array([2.0, 4.0, 6.0]))
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    assert standardised(np.array([3.0, 3.0])).tolist() == [0.0, 0.0]


def test_objective_reaches_the_optimisers_that_take_it(space):
    assert get_optimizer("surrogate", space, objective="pareto").objective == "pareto"
    assert get_optimizer("evolution", space, objective="pareto").objective == "pareto"
    assert get_optimizer("evolution", space).objective == "score"
    get_optimizer("random", space, objective="pareto")  # its proposals never depend on results
    helps = {o.name: o.help for o in optimizer_options("surrogate")}
    assert "--objective" in helps["objective"]


@pytest.mark.parametrize("call,message", [
    (lambda s: get_optimizer("optuna", s, objective="pareto", preset="crrelu"),
     "--objective pareto: optimizer 'optuna' ranks by score alone; use one of evolution, random, surrogate"),
    (lambda s: get_optimizer("surrogate", s, objective="pareot"), "--objective must be one of score, pareto"),
    (lambda s: get_optimizer("evolution", s, **{"objective": "pareto"} | {"objective2": 1}), "no option"),
    (lambda s: SurrogateOptimizer(s, objective="front"), "surrogate: objective must be one of score, pareto"),
])
def test_bad_objectives_are_one_line(space, call, message):
    with pytest.raises(ActsearchError, match=message.replace("(", r"\(")) as info:
        call(space)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["surrogate", "evolution"])
def test_pareto_on_the_default_grammar_and_on_an_infinite_space(name):
    # a catalog-backed finite space (the surrogate's pool) ...
    check_optimizer(lambda s, seed: get_optimizer(name, s, seed=seed, objective="pareto",
                                                  **({"n_initial": 3} if name == "surrogate" else
                                                     {"population_size": 4, "sample_size": 2})))
    # ... and an infinite one (jittered starts: the surrogate ranks a pool of samples and mutations)
    space = actsearch.space("polynomial", jitter=0.1)
    check_optimizer(lambda s, seed: get_optimizer(name, s, seed=seed, objective="pareto",
                                                  **({"n_initial": 3, "pool_size": 12} if name == "surrogate" else
                                                     {"population_size": 4, "sample_size": 2})),
                    space=space, steps=8)
