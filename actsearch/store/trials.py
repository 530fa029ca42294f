"""How one candidate is written as an Optuna trial, and read back as a Result.

A trial is created ``RUNNING`` when the driver hands its candidate to a worker
(user attributes ``text``, ``family``, ``name``, ``key``, ``fingerprint``,
``protected``; params for the dashboard) and finished when its result is
recorded (every :class:`~actsearch.result.Result` field as a user attribute,
the state from the status).  A trial left ``RUNNING`` by a driver that stopped is
marked ``FAIL`` with the user attribute ``interrupted``: it never became a
result, and a resume trains its candidate again.

Params, for ``optuna-dashboard``'s importance, slice and parallel-coordinate
plots: ``family`` (categorical over the families of the search), each learnable
parameter's initial value (a float whose range is the power of ten that holds the
values the space gave it: a trial's own is ``[0, 10^k]`` or ``[-10^k, 0]`` around its
value, and the dashboard shows the union over the trials), and ``formula``, the
canonical text (:func:`set_formula`): a categorical of one choice per trial, which
Optuna's own checks refuse (its choices change from trial to trial) and
optuna-dashboard reads as one axis of every formula, so it is written past them.

Example:
    >>> params, dists = trial_params({"a": 0.5, "b": -0.002}, "rational", ("rational", "other"))
    >>> params, (dists["a"].low, dists["a"].high), (dists["b"].low, dists["b"].high)
    ({'family': 'rational', 'a': 0.5, 'b': -0.002}, (0.0, 1.0), (-0.01, 0.0))
"""

from __future__ import annotations

import math
from typing import Any

from ..registry import SPACES
from ..result import Result

__all__ = ["result_attrs", "finished_state", "mean_curve", "to_result", "is_recorded", "is_inflight",
           "trial_params", "set_formula", "family_choices", "INTERRUPTED", "FORMULA"]

#: Result fields stored as trial user attributes (``trial`` is the trial's own number)
FIELDS = tuple(f for f in Result.__dataclass_fields__ if f != "trial")
#: written only when given: a record without it trained from its search's --seed
_OPTIONAL_KEYS = {"first_seed"}
#: user attribute of a trial whose driver stopped before recording it
INTERRUPTED = "interrupted"
#: families no search space makes (a space's candidates are of its family, named as the space):
#: the references and the user's own formulas
_NOT_FROM_A_SPACE = ("reference", "custom")
_OTHER = "other"
#: the param that holds a trial's formula
FORMULA = "formula"


def result_attrs(result: Result) -> dict[str, Any]:
    """The user attributes of a recorded trial."""
    attrs = {}
    for k in FIELDS:
        value = getattr(result, k)
        if k in _OPTIONAL_KEYS and value is None:
            continue
        attrs[k] = value
    return attrs


def finished_state(result: Result):
    """``(TrialState, value)``: COMPLETE with the score, PRUNED with the last score, else FAIL."""
    from optuna.trial import TrialState

    scored = result.score is not None and math.isfinite(result.score)
    if result.status == "ok" and scored:
        return TrialState.COMPLETE, float(result.score)
    if result.status == "pruned" and scored:
        return TrialState.PRUNED, float(result.score)
    return TrialState.FAIL, None


def mean_curve(result: Result, partial: bool = False) -> dict[int, float]:
    """Epoch -> mean metric over the seeds (the trial's intermediate values): over the
    epochs every seed reached, or, ``partial``, over the seeds that reached each epoch
    (a trial still running its later seeds)."""
    curves = [c for c in result.curves if c]
    out = {}
    if curves:
        for i in range(max(len(c) for c in curves) if partial else min(len(c) for c in curves)):
            reached = [c[i] for c in curves if len(c) > i]
            v = sum(reached) / len(reached)
            if math.isfinite(v):
                out[i + 1] = v
    return out


def family_choices(space: Any) -> tuple[str, ...]:
    """The ``family`` param's choices for a search of ``space`` (fixed per study): the
    families of every registered space, and ``space``'s own when it is not one of them."""
    families = (*_NOT_FROM_A_SPACE, *SPACES.names())
    extra = (space,) if isinstance(space, str) and space and space not in families else ()
    return families + extra + (_OTHER,)


def trial_params(params: dict[str, float], family: str, choices: tuple[str, ...]):
    """``(params, distributions)`` for a trial of a candidate of ``family`` with
    learnable ``params`` (initial values)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out = {"family": family if family in choices else _OTHER}
    dists = {"family": CategoricalDistribution(choices)}
    for name, value in params.items():
        value = float(value)
        if name in ("family", FORMULA) or not math.isfinite(value):
            continue
        bound = 10.0 ** math.ceil(math.log10(abs(value))) if value else 0.0
        out[name] = value
        dists[name] = FloatDistribution(min(0.0, -bound if value < 0 else 0.0), bound if value > 0 else 0.0)
    return out, dists


def set_formula(storage, trial_id: int, text: str) -> None:
    """Give the running trial ``trial_id`` its ``formula`` param: ``text`` as a categorical
    of one choice.  Optuna checks a param's choices against the study's first trial's
    and would refuse; its RDB storage takes the previous distribution as given, so this
    one is passed as its own.  A storage without that way in keeps the formula in the
    ``text`` user attribute only."""
    from optuna.distributions import CategoricalDistribution

    setter = getattr(storage, "_set_trial_param", None)
    if setter is None:
        return
    dist = CategoricalDistribution((text,))
    setter(trial_id, FORMULA, 0.0, dist, dist)


def is_recorded(trial) -> bool:
    """A finished trial that holds a result (not a running or interrupted one)."""
    return trial.state.is_finished() and "status" in trial.user_attrs and INTERRUPTED not in trial.user_attrs


def is_inflight(trial) -> bool:
    """A trial handed to a worker and never recorded: running, or interrupted (even
    one whose recording stopped half-way: its state is what says it was recorded)."""
    from optuna.trial import TrialState

    return trial.state == TrialState.RUNNING or INTERRUPTED in trial.user_attrs


def to_result(trial) -> Result:
    a = trial.user_attrs
    result = Result.from_dict({k: a[k] for k in FIELDS if k in a} | {"key": a.get("key", ""),
                                                                    "text": a.get("text", "")})
    result.status = a.get("status", "error")
    result.spread = float(result.spread or 0.0)
    result.wall_time = float(result.wall_time or 0.0)
    result.trial = trial.number
    return result
