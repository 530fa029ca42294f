"""The search's bookkeeping, free of Ray: what to train next, what was trained.

:class:`Driver` hands out one :class:`~actsearch.search.trial.messages.TrialSpec` per trial:
first the queue (references, the user's candidates, trials lost by a killed
driver), then the optimiser's proposals.  It applies the de-duplication and reuse
rule of :mod:`actsearch.dedup`: a proposal whose fingerprint this search has
already seen is told its recorded result and skipped; one trained before on the
same task, epochs, seeds and precision in any search of the store is copied
(``reused_from``) instead of trained.  Optimisers only propose.

Each candidate handed out is a ``RUNNING`` trial in the store at once (what
``optuna-dashboard`` shows live); when it ends, :meth:`Driver.complete` finishes
that trial with the result (and saves the optimiser's state) and tells the
optimiser.  A driver killed hard leaves its running trials behind, and a resume
trains their candidates first: no record is lost.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from actsearch.dedup import Seen, Verdict
from actsearch.symbolic.expr import Candidate
from actsearch.result import Result
from actsearch.store import StoredSearch

from .events import SearchEvents, Snapshot
from .trial.messages import TrialProgress, TrialSpec

__all__ = ["Driver", "SearchOutcome", "TrialDefaults"]


@dataclass
class SearchOutcome:
    """What :func:`~actsearch.search.run_search` returns."""

    name: str
    url: str
    results: list[Result]
    references: list[str]
    finished: bool
    trained: int
    reused: int
    wall_time: float
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrialDefaults:
    """What every trial of a search shares (the spec minus the candidate)."""

    task: str
    task_options: dict
    task_spec: str
    metric: str
    epochs: int
    seeds: tuple[int, ...]
    backend: str
    device: str
    precision: str
    early_stop: bool
    trial_timeout: float | None
    cpu_threads: int = 1


class Driver:
    """Queue, de-duplication, budget and recording for one search."""

    def __init__(self, stored: StoredSearch, optimizer, queue: list[Candidate], defaults: TrialDefaults,
                 budget: int, known: dict[str, Result], events: SearchEvents | None = None,
                 protected: set[str] | None = None):
        self.stored, self.optimizer, self.queue = stored, optimizer, list(queue)
        self.defaults, self.budget, self.known = defaults, budget, known
        self.events = events or SearchEvents()
        self.pending: dict[str, tuple[Candidate, bool]] = {}
        self.trials: dict[str, int] = {}  # Tune's trial id -> the store's running trial
        # references and the user's own candidates always train to the end
        self.queue_protected = {c.fingerprint() for c in queue} if protected is None else set(protected)
        self.report_steps: tuple[int, ...] | None = None
        recorded = stored.results()
        #: the rule's memory of this search: results by fingerprint, the ones in flight
        self.seen = Seen({r.fingerprint: r for r in recorded if r.fingerprint})
        self.trained = sum(1 for r in recorded if not r.reused_from)
        self.launched = self.trained
        self.reused = 0
        best = max((r for r in recorded if r.status == "ok" and r.score is not None), key=lambda r: r.score,
                   default=None)
        self.best: float | None = best.score if best else None
        self.best_text = best.text if best else ""
        self.started = time.monotonic()
        self.first_done = len(recorded)
        self.exhausted = False
        self.train_time = 0.0
        self.worker_time = 0.0
        self.error: BaseException | None = None

    def snapshot(self) -> Snapshot:
        """Where the search stands, for its watchers."""
        recorded = len(self.seen)
        return Snapshot(name=self.stored.name, budget=self.budget, done=min(recorded, self.budget),
                        trained=self.trained, running=[c.text for c, _ in self.pending.values()], best=self.best,
                        best_text=self.best_text, started=self.started, first_done=self.first_done)

    @property
    def finished(self) -> bool:
        return (self.launched >= self.budget or self.exhausted) and not self.pending and self.error is None

    # -- asking -----------------------------------------------------------------
    def _next(self) -> tuple[Candidate | None, bool]:
        """The next candidate, and whether the optimiser proposed it (and so must be told)."""
        if self.queue:
            return self.queue.pop(0), False
        return self.optimizer.ask(), True  # None from QueueOnly: nothing more to train

    def suggest(self, trial_id: str) -> TrialSpec | None:
        """The next candidate to train as trial ``trial_id``; ``None`` when the search is done.

        The optimiser is told once about each of its proposals, trained or not; a
        queued candidate already recorded (a reference, after a resume) is skipped
        without telling it again."""
        while True:
            if self.launched >= self.budget or self.exhausted:
                return None
            cand, asked = self._next()
            if cand is None:
                self.exhausted = True
                return None
            fp = cand.fingerprint()
            protected = fp in self.queue_protected
            verdict = self.seen.verdict(fp, self.known, early_stop=self.defaults.early_stop, protected=protected)
            if verdict is Verdict.REPEAT:
                prior = self.seen.prior(fp)
                if asked and prior is not None:
                    self.optimizer.tell(cand, prior)
                elif asked:
                    self.seen.wait(fp, cand)
                if self.seen.repeated():
                    self.exhausted = True
                continue
            if verdict is Verdict.COPY:
                self._reuse(cand, fp, self.known[fp])
                continue
            self.trials[trial_id] = self.stored.start(cand, fp, protected)  # in the store before any work
            self.queue_protected.discard(fp)
            self.seen.started(fp)
            self.pending[trial_id] = (cand, protected)
            self.launched += 1
            self.events.trial_started(self.snapshot(), cand.text)
            return self._spec(cand, protected)

    def _spec(self, cand: Candidate, protected: bool) -> TrialSpec:
        d = self.defaults
        return TrialSpec(text=cand.text, family=cand.family, name=cand.name or "", task=d.task,
                         task_options=d.task_options, epochs=d.epochs, seeds=d.seeds, backend=d.backend,
                         device=d.device, precision=d.precision, report_steps=self.report_steps,
                         protected=protected, trial_timeout=d.trial_timeout, cpu_threads=d.cpu_threads)

    def _reuse(self, cand: Candidate, fp: str, stored: Result) -> None:
        result = dataclasses.replace(stored, family=cand.family, text=cand.text, key=cand.key, fingerprint=fp,
                                     name=cand.name or "", trial=None)
        self.seen.recorded(fp, result)
        self.reused += 1
        self._record(cand, result, note=f"reused from {stored.reused_from}")

    # -- completing -------------------------------------------------------------
    def complete(self, trial_id: str, outcome: Result | TrialProgress | None) -> None:
        """Record trial ``trial_id``: its :class:`Result`, the last :class:`TrialProgress`
        of a trial the scheduler stopped early, or ``None`` for a worker that died."""
        entry = self.pending.pop(trial_id, None)
        if entry is None:
            return
        cand, _ = entry
        fp = cand.fingerprint()
        res = self._to_result(cand, fp, outcome)
        waited = self.seen.recorded(fp, res)
        self._record(cand, res, trial=self.trials.pop(trial_id, None))
        for dup in waited:
            self.optimizer.tell(dup, res)

    def _to_result(self, cand: Candidate, fp: str, outcome: Result | TrialProgress | None) -> Result:
        d = self.defaults
        base = dict(key=cand.key, text=cand.text, family=cand.family, name=cand.name or "", metric=d.metric,
                    fingerprint=fp, task=d.task_spec, epochs=d.epochs, seeds=len(d.seeds), first_seed=d.seeds[0],
                    precision=d.precision)
        if isinstance(outcome, Result):
            self.train_time += outcome.train_time
            self.worker_time += outcome.wall_time
            # the driver's view of what was trained wins over the worker's labels
            return dataclasses.replace(outcome, **{k: v for k, v in base.items() if k != "metric"},
                                       metric=outcome.metric or d.metric)
        if isinstance(outcome, TrialProgress):  # stopped early by the scheduler
            self.worker_time += outcome.elapsed
            self.train_time += outcome.elapsed - outcome.setup_time
            return Result(status="pruned", score=outcome.score, curves=outcome.curves, wall_time=outcome.elapsed,
                          message=f"stopped early by ASHA after {outcome.step} epochs", **base)
        return Result(status="error", message="the trial's worker failed (after retries)", **base)

    def _record(self, cand: Candidate, res: Result, note: str = "", trial: int | None = None) -> None:
        """Tell the optimiser and store ``res``: finishing the running ``trial``, or as a
        new finished trial (a result copied from another search)."""
        if not res.reused_from:
            self.trained += 1
        self.optimizer.tell(cand, res)
        self.stored.record(res, optimizer_state=self.optimizer.state_dict(), trial=trial, params=cand.params)
        if res.status == "ok" and res.score is not None and (self.best is None or res.score > self.best):
            self.best, self.best_text = res.score, res.text
        self.events.trial_recorded(self.snapshot(), res, note)


class QueueOnly:
    """Stands in for an optimiser when only the queued candidates are to be trained
    (``optimizer=None``, e.g. a confirmation on fresh seeds)."""

    name = "none"

    def ask(self) -> None:
        return None

    def tell(self, candidate: Candidate, result: Result) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
