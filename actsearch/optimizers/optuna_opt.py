"""``optuna``: Optuna samplers (TPE, CMA-ES) driving a family's numeric parameters.

The optimiser fixes a *template* candidate (``preset``: a preset name or candidate
text; otherwise ``space.sample`` with the optimiser's seed) and works in one of two
modes:

* ``params``: Optuna suggests every numeric parameter of the template in
  ``[v - w, v + w]``, ``w = max(width * |v|, min_width)`` around its initial value
  ``v``; the candidate is ``template.with_params(suggested)``.  Fits rational
  coefficients, eps of the entropy family, polynomial weights.
* ``choice``: a categorical over a fixed list of candidates: the whole space when
  it is finite and small (up to 5000 members, e.g. the rational structures),
  else ``pool_size`` samples drawn with the seed.

``mode="auto"`` picks ``params`` when the template has parameters, else ``choice``.
The sampler is rebuilt before every ask with a seed drawn from ``self.rng`` and the
study holds only what was told, so the saved state (the told trials: parameters,
value, system attributes) replayed into a fresh in-memory study with
``study.add_trial`` continues exactly where the original stopped.  Failed results
are told as failed trials (TPE ignores them) unless ``failure_score`` is given.
A suggestion equal (by fingerprint) to an already-told candidate is told its known
value and redrawn, one equal to a candidate still being evaluated is failed and
redrawn, up to ``max_tries`` suggestions in all
(:meth:`~actsearch.optimizers.base.Optimizer.propose_new`): the study learns from
every suggestion it makes.

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.optuna_opt import OptunaOptimizer
    >>> opt = OptunaOptimizer(actsearch.space("entropy"), seed=0, preset="crrelu")
    >>> opt.mode, opt.template.text
    ('params', 'eps*x*exp(-x**2/2) + relu(x); eps=0.01')
    >>> c = opt.ask()  # eps drawn from [0.01 - 0.5, 0.01 + 0.5]
    >>> c.expr == opt.template.expr, -0.49 <= c.params["eps"] <= 0.51
    (True, True)
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

from actsearch.errors import ActsearchError
from actsearch.registry import UnknownNameError, preset
from actsearch.result import Result
from actsearch.symbolic.expr import Candidate, parse

from .base import PLAIN, SAME, Optimizer, Saved

#: a finite space up to this size is one categorical; larger ones are sampled
_MAX_CHOICES = 5000

__all__ = ["OptunaOptimizer"]

SAMPLERS = ("tpe", "cmaes", "random")
MODES = ("auto", "params", "choice")


def _fail(message: str) -> ActsearchError:
    return ActsearchError(f"optuna optimizer: {message}")


class OptunaOptimizer(Optimizer):
    """Ask-and-tell over an Optuna study (in memory, direction maximize).

    Args:
        space: the search space.
        seed: seeds the template, the choice pool and every sampler.
        sampler: ``tpe`` (default), ``cmaes`` (continuous parameters only; needs the
            ``cmaes`` package) or ``random``.
        preset: template candidate: a preset name or candidate text.
        mode: ``auto``, ``params`` or ``choice`` (see module docstring).
        width, min_width: parameter range around the template values.
        pool_size: size of the choice list on infinite spaces.
        n_startup_trials: random trials before TPE/CMA-ES model the results.
        failure_score: value told for failed results (default: a failed trial).
        max_tries: redraws when a suggestion repeats an already-told candidate.
    """

    name = "optuna"
    saved = {
        "mode": SAME,
        "template": Saved(lambda c: c.text, match=True),
        "told": PLAIN,
        "told_values": PLAIN,
        # pending trials were running: they return as finished trials when told
        "pending": Saved(lambda pending: {text: {"params": p["params"]} for text, p in pending.items()},
                         lambda saved: {text: {"trial": None, "params": p["params"]} for text, p in saved.items()}),
    }

    def __init__(self, space, seed: int = 0, sampler: str = "tpe", preset: str | None = None,
                 mode: str = "auto", width: float = 1.0, min_width: float = 0.5, pool_size: int = 256,
                 n_startup_trials: int = 10, failure_score: float | None = None, max_tries: int = 20):
        import optuna

        super().__init__(space, seed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if sampler not in SAMPLERS:
            raise _fail(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
        if mode not in MODES:
            raise _fail(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
        if float(width) < 0 or float(min_width) <= 0:
            raise _fail(f"width must be >= 0 and min_width > 0, got {width} and {min_width}")
        if int(pool_size) < 1 or int(max_tries) < 1 or int(n_startup_trials) < 0:
            raise _fail("pool_size and max_tries must be >= 1 and n_startup_trials >= 0")
        if sampler == "cmaes":
            try:
                import cmaes  # noqa: F401
            except ImportError:
                raise _fail("sampler 'cmaes' needs the cmaes package (pip install cmaes)") from None
        self.sampler_name, self.preset = sampler, preset
        self.width, self.min_width = float(width), float(min_width)
        self.pool_size, self.n_startup_trials = int(pool_size), int(n_startup_trials)
        self.failure_score = None if failure_score is None else float(failure_score)
        self.max_tries = int(max_tries)

        self.template = self._template(np.random.default_rng(seed))
        self.mode = mode if mode != "auto" else ("params" if self.template.params else "choice")
        if self.mode == "params" and not self.template.params:
            raise _fail(f"mode 'params' needs a template with parameters; {self.template.text!r} has none")
        if self.mode == "choice" and sampler == "cmaes":
            raise _fail("sampler 'cmaes' needs continuous parameters; this template has none "
                        "(use sampler 'tpe', or a preset with parameters)")
        self.choices = self._choices(np.random.default_rng([seed, 1])) if self.mode == "choice" else []
        self._choice_index = {c.fingerprint(): i for i, c in enumerate(self.choices)}
        self.distributions = self._distributions()

        self._new_study()
        self.told: list[dict[str, Any]] = []  # what a restore replays
        self.told_values: dict[str, float | None] = {}  # fingerprint -> value told
        self.pending: dict[str, dict[str, Any]] = {}  # text -> {"trial": n, "params": {...}}
        self._suggested: dict[str, Any] = {}  # the study's latest suggestion: {"trial": n, "params": {...}}

    # -- setup -------------------------------------------------------------------
    def _template(self, rng: np.random.Generator) -> Candidate:
        if self.preset is None:
            return self.space.sample(rng)

        try:
            cand = preset(self.preset)
        except UnknownNameError:  # not a preset name: formula text
            cand = parse(self.preset)
        return cand.with_params({}, family=self.space.name or cand.family)

    def _choices(self, rng: np.random.Generator) -> list[Candidate]:
        source = None
        if getattr(self.space, "finite", False) and (getattr(self.space, "size", None) or 0) <= _MAX_CHOICES:
            source = self.space.enumerate()  # a categorical over the whole space
        if source is None:  # infinite, or too large to list (the grammar's half a million)
            source = (self.space.sample(rng) for _ in range(self.pool_size))
        out, fps = [], set()
        for c in source:
            if c.fingerprint() not in fps:
                fps.add(c.fingerprint())
                out.append(c)
        return out

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        if self.mode == "choice":
            return {"index": CategoricalDistribution(list(range(len(self.choices))))}
        out = {}
        for name, v in self.template.params.items():
            w = max(self.width * abs(v), self.min_width)
            out[name] = FloatDistribution(v - w, v + w)
        return out

    def _new_study(self) -> None:
        import optuna

        self.study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")

    def _sampler(self):
        import optuna

        seed = int(self.rng.integers(2**31 - 1))
        with warnings.catch_warnings():  # multivariate TPE is flagged experimental
            warnings.simplefilter("ignore")
            if self.sampler_name == "tpe":
                return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials,
                                                  multivariate=True)
            if self.sampler_name == "cmaes":
                return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=self.n_startup_trials)
            return optuna.samplers.RandomSampler(seed=seed)

    def _decode(self, params: dict[str, Any]) -> Candidate:
        if self.mode == "choice":
            return self.choices[int(params["index"])]
        return self.template.with_params({k: float(v) for k, v in params.items()})

    def _encode(self, candidate: Candidate) -> dict[str, Any] | None:
        """Parameters that produce ``candidate``, or None when it is outside this study's grid."""
        if self.mode == "choice":
            index = self._choice_index.get(candidate.fingerprint())
            return None if index is None else {"index": index}
        if candidate.expr != self.template.expr:
            return None
        params = {k: float(v) for k, v in candidate.params.items()}
        ok = all(d.low <= params[k] <= d.high for k, d in self.distributions.items())
        return params if ok else None

    # -- ask/tell ----------------------------------------------------------------
    def ask(self) -> Candidate:
        pending_fps = {self._decode(p["params"]).fingerprint() for p in self.pending.values()}
        cand = self.propose_new(self._suggest, self.told_values.keys() | pending_fps, self.max_tries,
                                dropped=self._drop)
        self.pending[cand.text] = self._suggested
        return cand

    def _suggest(self) -> Candidate:
        """One suggestion of the study, from a sampler seeded by ``self.rng``."""
        self.study.sampler = self._sampler()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask(self.distributions)
        self._suggested = {"trial": trial.number, "params": dict(trial.params)}
        return self._decode(self._suggested["params"])

    def _drop(self, cand: Candidate) -> None:
        """Close the trial of a repeated suggestion: the known value, or failed while in flight."""
        number, params = self._suggested["trial"], self._suggested["params"]
        self._finish(number, params, self.told_values.get(cand.fingerprint()))

    def tell(self, candidate: Candidate, result: Result) -> None:
        value = float(result.score) if result.ok else self.failure_score
        entry = self.pending.pop(candidate.text, None)
        if entry is not None and entry.get("trial") is not None:
            self._finish(entry["trial"], entry["params"], value)
        else:  # enqueued by the caller, or asked before a restore: add it as a finished trial
            params = entry["params"] if entry is not None else self._encode(candidate)
            if params is not None:
                self._add(params, value, {})
        self.told_values[candidate.fingerprint()] = value

    def _finish(self, number: int, params: dict[str, Any], value: float | None) -> None:
        from optuna.trial import TrialState

        if value is None:
            frozen = self.study.tell(number, state=TrialState.FAIL)
        else:
            frozen = self.study.tell(number, value)
        self._record(params, value, frozen.system_attrs)

    def _add(self, params: dict[str, Any], value: float | None, system_attrs: dict[str, Any]) -> None:
        import optuna
        from optuna.trial import TrialState

        state = TrialState.FAIL if value is None else TrialState.COMPLETE
        self.study.add_trial(optuna.trial.create_trial(
            state=state, value=value, params=params, distributions=self.distributions,
            system_attrs=system_attrs,
        ))
        self._record(params, value, system_attrs)

    def _record(self, params: dict[str, Any], value: float | None, system_attrs: dict[str, Any]) -> None:
        # through JSON now, so a state_dict never holds something json.dumps rejects
        self.told.append(json.loads(json.dumps({"params": params, "value": value,
                                                "system_attrs": dict(system_attrs)})))

    def _restored(self) -> None:
        told, self.told = self.told, []
        self._new_study()
        for t in told:
            self._add(t["params"], t["value"], t["system_attrs"])
