"""One search's study in the results store: its state, its trials, its results.

:class:`StoredSearch` is what :meth:`actsearch.store.Store.open_search` and
:meth:`~actsearch.store.Store.search` return; the schema is in :mod:`actsearch.store`.
The driver starts a ``RUNNING`` trial per candidate it hands out
(:meth:`StoredSearch.start`) and finishes it with the result
(:meth:`StoredSearch.record`); every write goes through the store's retrying
call and, for a driver, first checks that its lease was not taken over.

Example:
    >>> import os, tempfile
    >>> import actsearch
    >>> from actsearch.store import Store
    >>> from actsearch.result import Result
    >>> s = Store("sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite")).open_search("demo", {"task": "t"})
    >>> trial = s.start(actsearch.parse("relu(x)"), "fp")
    >>> s.inflight[0]["text"], s.results()
    ('relu(x)', [])
    >>> s.record(Result(key="k", text="relu(x)", score=0.9, fingerprint="fp"), trial=trial)
    >>> [r.score for r in s.results()], s.inflight
    ([0.9], [])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .trials import (INTERRUPTED, family_choices, finished_state, is_inflight, is_recorded, mean_curve,
                     result_attrs, set_formula, to_result, trial_params)
from ..result import Result

if TYPE_CHECKING:
    from .lease import Lease

__all__ = ["StoredSearch"]

_INTERRUPTED_WHY = "its driver stopped before recording it; --resume trains it again"
#: the study's system attribute that holds the optimiser's state
_OPTIMIZER = "optimizer"


class StoredSearch:
    """One search's study: start and record trials, save optimiser state, read back.

    ``lease``: the driver's; every write first checks it was not taken over."""

    def __init__(self, store: Any, name: str, study_id: int, lease: Lease | None = None):
        # store: the actsearch.store.Store it lives in (its read/write/study_attrs/study_trials; not
        # imported here: that module imports this one)
        self.store, self.name, self.study_id, self.lease = store, name, study_id, lease
        self._families: tuple[str, ...] | None = None
        self._reported: dict[int, dict[int, float]] = {}  # trial -> the intermediate values written

    @property
    def _attrs(self) -> dict[str, Any]:
        return self.store.study_attrs(self.study_id)

    @property
    def config(self) -> dict[str, Any]:
        return self._attrs.get("config", {})

    @property
    def state(self) -> str:
        return self._attrs.get("state", "")

    @property
    def optimizer_state(self) -> dict[str, Any] | None:
        """The optimiser's saved state (its random generator's among it): a system
        attribute of the study, out of the user attributes optuna-dashboard shows
        (stores written before kept it there: read as a fallback)."""
        state = self.store.read("reading the optimiser's state", self.store.storage.get_study_system_attrs,
                                self.study_id).get(_OPTIMIZER)
        return state if state is not None else self._attrs.get(_OPTIMIZER)

    def _write(self, doing: str, fn: Callable, *args):
        if self.lease is not None:
            self.lease.check()
        return self.store.write(doing, fn, *args)

    def set_state(self, state: str) -> None:
        """Save the search's state; leaving ``running`` marks its unrecorded trials
        interrupted.  After a write failed for good this is one best-effort try
        (the first error is what the user is told)."""
        steps = [self.close_running] if state != "running" else []
        steps.append(lambda: self._write("saving the search's state", self.store.storage.set_study_user_attr,
                                         self.study_id, "state", state))
        for step in steps:
            if self.store.failed is None:
                step()
                continue
            try:
                step()
            except Exception:  # noqa: BLE001 - best effort, each step alone, on a store that already failed
                pass

    def close_running(self) -> None:
        """Mark the trials still ``RUNNING`` as interrupted (``FAIL``): their driver is gone."""
        from optuna.trial import TrialState

        storage = self.store.storage
        for t in self.store.study_trials(self.study_id):
            if t.state == TrialState.RUNNING:
                self._write("marking an unrecorded trial interrupted", self._interrupt, storage, t._trial_id)

    @staticmethod
    def _interrupt(storage, trial_id: int) -> None:
        from optuna.trial import TrialState

        if storage.get_trial(trial_id).state != TrialState.RUNNING:
            return  # repeated after a lost connection: already done
        storage.set_trial_user_attr(trial_id, INTERRUPTED, _INTERRUPTED_WHY)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)

    @property
    def inflight(self) -> list[dict[str, Any]]:
        """Candidates handed to workers and never recorded (``[{text, family, name,
        protected, fingerprint}]``): running now, or interrupted and not trained since."""
        trials = sorted(self.store.study_trials(self.study_id), key=lambda t: t.number)
        done_fps = {t.user_attrs.get("fingerprint") for t in trials if is_recorded(t)}
        done_texts = {t.user_attrs.get("text") for t in trials if is_recorded(t)}
        out, seen = [], set()
        for t in trials:
            a = t.user_attrs
            if is_inflight(t) and a.get("fingerprint") not in done_fps and a.get("fingerprint") not in seen:
                seen.add(a.get("fingerprint"))
                out.append({"text": a.get("text", ""), "family": a.get("family", "custom"),
                            "name": a.get("name", ""), "protected": bool(a.get("protected")),
                            "fingerprint": a.get("fingerprint", "")})
        # stores written before trials started RUNNING kept this list in the study
        out += [c for c in self._attrs.get("inflight", []) if c.get("text") not in done_texts]
        return out

    def save_optimizer(self, state: dict[str, Any]) -> None:
        self._write("saving the optimiser's state", self.store.storage.set_study_system_attr, self.study_id,
                    _OPTIMIZER, state)

    def _family_choices(self) -> tuple[str, ...]:
        # Optuna requires one set of choices per param name in a study: reuse the first one
        if self._families is None:
            for t in self.store.study_trials(self.study_id):
                dist = t.distributions.get("family")
                if dist is not None and hasattr(dist, "choices"):
                    self._families = tuple(dist.choices)
                    break
            else:
                self._families = family_choices(self.config.get("space"))
        return self._families

    def start(self, candidate, fingerprint: str, protected: bool = False) -> int:
        """Create the ``RUNNING`` trial of ``candidate`` (anything with ``text``,
        ``family``, ``name``, ``key`` and ``params``), handed to a worker now;
        returns its trial id for :meth:`record`."""
        from optuna.trial import TrialState, create_trial

        params, dists = trial_params(getattr(candidate, "params", {}) or {}, candidate.family,
                                     self._family_choices())
        template = create_trial(state=TrialState.RUNNING, params=params, distributions=dists, user_attrs={
            "text": candidate.text, "family": candidate.family, "name": candidate.name or "",
            "key": candidate.key, "fingerprint": fingerprint, "protected": bool(protected)})
        trial = self._write(f"starting the trial of {candidate.text!r}", self.store.storage.create_new_trial,
                            self.study_id, template)
        self._write(f"naming the trial of {candidate.text!r}", set_formula, self.store.storage, trial, candidate.text)
        return trial

    def record(self, result: Result, optimizer_state: dict[str, Any] | None = None, *, trial: int | None = None,
               params: dict[str, float] | None = None) -> None:
        """Record ``result``: finish the running ``trial`` (from :meth:`start`), or add a
        finished trial (a result copied from another search; ``params``: its
        learnable parameters' initial values).  Then save the optimiser's state, when given."""
        from optuna.trial import TrialState, create_trial

        attrs = result_attrs(result)
        state, value = finished_state(result)
        inter = mean_curve(result)
        storage = self.store.storage

        def finish(trial: int) -> None:
            if storage.get_trial(trial).state.is_finished():
                return  # repeated after a lost connection: the first try got through
            for k, v in attrs.items():
                storage.set_trial_user_attr(trial, k, v)
            for step, v in inter.items():
                storage.set_trial_intermediate_value(trial, step, v)
            storage.set_trial_state_values(trial, state, None if value is None else [value])

        if trial is None:  # a copy: made running (the formula param needs a running trial), then finished
            p, dists = trial_params(params or {}, result.family, self._family_choices())
            template = create_trial(state=TrialState.RUNNING, params=p, distributions=dists, user_attrs={})
            trial = self._write(f"recording {result.text!r}", storage.create_new_trial, self.study_id, template)
            self._write(f"naming the trial of {result.text!r}", set_formula, storage, trial, result.text)
        self._write(f"recording {result.text!r}", finish, trial)
        if optimizer_state is not None:
            self.save_optimizer(optimizer_state)

    def report_curves(self, trial: int, curves: list[list[float]]) -> None:
        """A running ``trial``'s learning curves so far (one per seed) as its Optuna
        intermediate values: epoch -> the mean over the seeds that reached it (the
        values :meth:`record` writes at the end), so optuna-dashboard draws the curve
        while the trial runs.  Only values that changed are written."""
        values = mean_curve(Result(key="", text="", curves=[list(c) for c in curves]), partial=True)
        written = self._reported.setdefault(trial, {})
        changed = {step: v for step, v in values.items() if written.get(step) != v}
        if not changed:
            return
        storage = self.store.storage

        def write():
            if storage.get_trial(trial).state.is_finished():
                return  # recorded meanwhile: its final values stand
            for step, v in changed.items():
                storage.set_trial_intermediate_value(trial, step, v)

        self._write("writing a running trial's learning curve", write)
        written.update(changed)

    def results(self) -> list[Result]:
        """The recorded candidates (not the running or interrupted ones), in the order they
        were handed out (trial number; the same for the same settings and seed, whichever
        parallel trial ends first)."""
        trials = [t for t in self.store.study_trials(self.study_id) if is_recorded(t)]
        return [to_result(t) for t in sorted(trials, key=lambda t: t.number)]
