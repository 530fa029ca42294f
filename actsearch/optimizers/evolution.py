"""``evolution``: regularized (aging) evolution with tournament selection.

Real et al. (2019), "Regularized Evolution for Image Classifier Architecture
Search": keep the ``population_size`` most recently evaluated candidates; a child
comes from the best of ``sample_size`` members drawn at random (a tournament),
changed by ``space.mutate`` or, with probability ``crossover_prob``, recombined with
a second tournament winner by ``space.crossover``; then, with probability
``param_mutation_prob``, its numeric parameters (rational coefficients, eps,
polynomial weights...) get Gaussian noise.  Each evaluated child pushes out the
*oldest* member, not the worst, which keeps the search from fixating on one lucky
early result.  Failed results rank below every successful one.  Under
``objective="pareto"`` the tournaments of each proposal rank by a random
scalarisation of fitness against the formula's cost
(:mod:`actsearch.optimizers._pareto`), so the population follows the front.

Until ``population_size`` results have been told, :meth:`ask` returns fresh samples.
A child whose fingerprint was already asked or told is redrawn, up to ``max_tries``
times (:meth:`~actsearch.optimizers.base.Optimizer.propose_new`): told a repeat's
result again, the population would fill with copies of its best member.

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.evolution import RegularizedEvolution
    >>> from actsearch.result import Result
    >>> opt = RegularizedEvolution(actsearch.space("grammar"), seed=0, population_size=2, sample_size=1)
    >>> for score in (0.5, 0.7):
    ...     c = opt.ask()
    ...     opt.tell(c, Result(key=c.key, text=c.text, score=score))
    >>> child = opt.ask()  # the population is full: a mutation or crossover of a tournament winner
    >>> child.family, child.fingerprint() in opt.seen
    ('grammar', True)
"""

from __future__ import annotations


import numpy as np

from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate
from actsearch.result import Result

from ._pareto import Costs, check_objective, scalarised
from .base import FINGERPRINTS, INT, Optimizer, scored

__all__ = ["RegularizedEvolution", "perturb_params"]


def perturb_params(candidate: Candidate, rng: np.random.Generator, sigma: float = 0.2) -> Candidate:
    """Gaussian noise on each parameter with probability 1/2 (at least one changes).

    ``v -> v + sigma * max(|v|, 0.1) * N(0, 1)``: relative for large values, with a
    floor so parameters that start at 0 can move.  Parameter-free candidates are
    returned unchanged.
    """
    names = list(candidate.params)
    if not names:
        return candidate
    mask = rng.random(len(names)) < 0.5
    if not mask.any():
        mask[int(rng.integers(len(names)))] = True
    noise = rng.standard_normal(len(names))
    values = {}
    for name, on, z in zip(names, mask, noise):
        if on:
            v = candidate.params[name]
            values[name] = v + sigma * max(abs(v), 0.1) * float(z)
    return candidate.with_params(values)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ActsearchError(f"evolution: {message}")


class RegularizedEvolution(Optimizer):
    """Aging evolution over any search space.

    Args:
        space: the search space.
        seed: seeds every random choice.
        population_size: members kept (P); the oldest leaves when a child is told.
        sample_size: tournament size (S), 1 <= S <= P.
        crossover_prob: chance a child comes from ``space.crossover`` of two winners.
        param_mutation_prob: chance a child's numeric parameters get Gaussian noise.
        param_sigma: relative scale of that noise (see :func:`perturb_params`).
        max_tries: redraws allowed to avoid an already-asked fingerprint.
        objective: ``score`` (default), or ``pareto``: each proposal's tournaments rank the
            population by ``w * z(fitness) - (1 - w) * z(cost)``, ``w`` drawn per proposal.
    """

    name = "evolution"
    saved = {"told": INT, "population": scored("fitness"), "seen": FINGERPRINTS}

    def __init__(self, space, seed: int = 0, population_size: int = 20, sample_size: int = 5,
                 crossover_prob: float = 0.25, param_mutation_prob: float = 0.5,
                 param_sigma: float = 0.2, max_tries: int = 20, objective: str = "score"):
        super().__init__(space, seed)
        self.objective = check_objective("evolution", objective)
        self._costs = Costs()
        _check(int(population_size) >= 2, f"population_size must be >= 2, got {population_size}")
        _check(1 <= int(sample_size) <= int(population_size),
               f"sample_size must be between 1 and population_size={population_size}, got {sample_size}")
        for label, p in (("crossover_prob", crossover_prob), ("param_mutation_prob", param_mutation_prob)):
            _check(0.0 <= float(p) <= 1.0, f"{label} must be in [0, 1], got {p}")
        _check(float(param_sigma) >= 0.0, f"param_sigma must be >= 0, got {param_sigma}")
        _check(int(max_tries) >= 1, f"max_tries must be >= 1, got {max_tries}")
        self.population_size, self.sample_size = int(population_size), int(sample_size)
        self.crossover_prob, self.param_mutation_prob = float(crossover_prob), float(param_mutation_prob)
        self.param_sigma, self.max_tries = float(param_sigma), int(max_tries)
        #: (candidate, fitness or None for a failure), oldest first
        self.population: list[tuple[Candidate, float | None]] = []
        self.seen: set[str] = set()
        self.told = 0

    # -- ask/tell ----------------------------------------------------------------
    def ask(self) -> Candidate:
        child = self.propose_new(self._propose, self.seen, self.max_tries)
        self.seen.add(child.fingerprint())
        return child

    def tell(self, candidate: Candidate, result: Result) -> None:
        fitness = float(result.score) if result.ok else None
        self.population.append((candidate, fitness))
        if len(self.population) > self.population_size:
            self.population.pop(0)
        self.seen.add(candidate.fingerprint())
        self.told += 1

    def _propose(self) -> Candidate:
        if len(self.population) < self.population_size:
            return self.space.sample(self.rng)
        fitness = self._fitness()
        parent = self._tournament(fitness)
        if self.rng.random() < self.crossover_prob:
            child = self.space.crossover(parent, self._tournament(fitness), self.rng)
        else:
            child = self.space.mutate(parent, self.rng)
        if child.params and self.rng.random() < self.param_mutation_prob:
            tuned = perturb_params(child, self.rng, self.param_sigma)
            if self.space.contains(tuned):
                child = tuned
        return child

    def _fitness(self) -> np.ndarray:
        """Each member's fitness (a failure -inf); under ``pareto`` this proposal's
        scalarisation of fitness and cost (one weight per proposal)."""
        fitness = np.array([-np.inf if fit is None else fit for _, fit in self.population])
        if self.objective == "pareto":
            cost = self._costs([c for c, _ in self.population])
            fitness = scalarised(fitness, cost, float(self.rng.random()))
        return fitness

    def _tournament(self, fitness: np.ndarray | None = None) -> Candidate:
        """The best of ``sample_size`` members drawn at random, by ``fitness`` (default: :meth:`_fitness`)."""
        fitness = self._fitness() if fitness is None else fitness
        picks = self.rng.choice(len(self.population), size=self.sample_size, replace=False)
        best, best_fit = None, -np.inf
        for i in picks:
            value = fitness[int(i)]
            if best is None or value > best_fit:
                best, best_fit = self.population[int(i)][0], value
        return best
