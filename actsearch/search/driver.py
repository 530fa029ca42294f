"""The search's bookkeeping, free of Ray: what to train next, what was trained.

:class:`Driver` hands out one :class:`~actsearch.search.trial.messages.TrialSpec` per trial:
first the queue (references, the user's candidates, trials lost by a killed
driver), then the optimiser's proposals.  It applies the de-duplication and reuse
rule of :mod:`actsearch.dedup`: a proposal whose fingerprint this search has
already seen is told its recorded result and skipped; one trained before on the
same task, epochs, seeds and precision in any search of the store is copied
(``reused_from``) instead of trained.  Optimisers only propose.

Before a candidate takes a training of the budget it is screened here
(:func:`~actsearch.search.trial.evaluate.screen`: poles, non-finite or huge outputs
and gradients on [-10, 10], a few milliseconds): one rejected is recorded as failed
with the reason and told to the optimiser, and the budget's training goes to the next
candidate.  :data:`MAX_REJECTED_IN_A_ROW` rejections in a row end the proposals.

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
from actsearch.errors import ActsearchError
from actsearch.result import Result
from actsearch.scoring import converged, final_loss, higher_is_better, holds_up_value
from actsearch.store import StoredSearch
from actsearch.symbolic.expr import Candidate

from .events import Running, SearchEvents, Snapshot
from .time_limit import TrialTimeLimit
from .trial.evaluate import rejected_before_training, screen
from .trial.messages import TrialProgress, TrialSpec

__all__ = ["Driver", "SearchOutcome", "TrialDefaults", "MAX_REJECTED_IN_A_ROW"]

#: proposals rejected before training, one after another, after which the optimiser is
#: taken to have nothing trainable left to propose
MAX_REJECTED_IN_A_ROW = 200


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
    rejected: int = 0  # screened out before training: no training of the budget spent
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metric: str = ""
    mode: str = "max"


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
    mode: str = "max"


class Driver:
    """Queue, de-duplication, budget and recording for one search."""

    def __init__(self, stored: StoredSearch, optimizer, queue: list[Candidate], defaults: TrialDefaults,
                 budget: int, known: dict[str, Result], events: SearchEvents | None = None,
                 protected: set[str] | None = None, references: set[str] = frozenset(),
                 time_limit: TrialTimeLimit | None = None):
        self.stored, self.optimizer, self.queue = stored, optimizer, list(queue)
        self.time_limit = time_limit  # None: defaults.trial_timeout as given
        self.defaults, self.budget = defaults, budget
        # a rejection is not copied from another search: screening again costs milliseconds
        self.known = {fp: r for fp, r in known.items() if not rejected_before_training(r)}
        self.events = events or SearchEvents()
        self.pending: dict[str, tuple[Candidate, bool]] = {}
        self.trials: dict[str, int] = {}  # Tune's trial id -> the store's running trial
        # references and the user's own candidates always train to the end
        self.queue_protected = {c.fingerprint() for c in queue} if protected is None else set(protected)
        self.report_steps: tuple[int, ...] | None = None
        #: the references' fingerprints: when every one fails alike, the task is what fails
        self.references = set(references)
        recorded = stored.results()
        #: the rule's memory of this search: results by fingerprint, the ones in flight
        self.seen = Seen({r.fingerprint: r for r in recorded if r.fingerprint})
        self.rejected = sum(1 for r in recorded if rejected_before_training(r))
        self.trained = sum(1 for r in recorded if not r.reused_from and not rejected_before_training(r))
        self.rejected_in_a_row = 0
        self.launched = self.trained
        self.reused = 0
        self.copied_before = sum(1 for r in recorded if r.reused_from)
        best = max((r for r in recorded if r.status == "ok" and r.score is not None),
                   key=lambda r: higher_is_better(r.score, defaults.mode), default=None)
        self.best: float | None = best.score if best else None
        self.best_text = best.text if best else ""
        self.started = time.monotonic()
        self.first_done = self.trained
        # what the progress display reads: when each trial started, its last report, how long trials take
        self.running_since: dict[str, float] = {}
        self.last_progress: dict[str, tuple[TrialProgress, float]] = {}
        self.durations: list[float] = [r.wall_time for r in recorded if not r.reused_from and r.wall_time
                                       and not rejected_before_training(r)]
        self.workers: int | None = None
        self.exhausted = False
        self.train_time = 0.0
        self.worker_time = 0.0
        self.error: BaseException | None = None

    def snapshot(self) -> Snapshot:
        """Where the search stands, for its watchers: trained (what the budget counts)
        apart from copied, each running trial with its last report."""
        d = self.defaults
        running = []
        for trial_id, (cand, _) in self.pending.items():
            last, at = self.last_progress.get(trial_id, (None, None))
            curve = last.curves[-1] if last is not None and last.curves else []
            running.append(Running(cand.text, self.running_since.get(trial_id, self.started),
                                   steps=d.epochs * len(d.seeds), epochs=d.epochs, step=last.step if last else 0,
                                   value=float(curve[-1]) if curve else None, metric=d.metric, reported=at))
        return Snapshot(name=self.stored.name, budget=self.budget, done=self.trained,
                        copied=self.copied_before + self.reused, running=running, best=self.best,
                        best_text=self.best_text, started=self.started, first_done=self.first_done,
                        durations=list(self.durations), workers=self.workers)

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
                same = prior.text if prior is not None else next((c.text for c, _ in self.pending.values()
                                                                  if c.fingerprint() == fp), cand.text)
                if not asked and same != cand.text:  # a queued formula, not trained: say why
                    self.events.note(f"{cand.text}: the same function as {same} (on every probe point), trained once")
                if asked and prior is not None:
                    self._tell(cand, prior)
                elif asked:
                    self.seen.wait(fp, cand)
                if self.seen.repeated():
                    self.exhausted = True
                continue
            if verdict is Verdict.COPY:
                self._reuse(cand, fp, self.known[fp])
                continue
            if self._rejected(cand, fp, asked):
                continue
            self.trials[trial_id] = self.stored.start(cand, fp, protected)  # in the store before any work
            self.queue_protected.discard(fp)
            self.seen.started(fp)
            self.pending[trial_id] = (cand, protected)
            self.running_since[trial_id] = time.monotonic()
            self.launched += 1
            self.events.trial_started(self.snapshot(), cand.text)
            return self._spec(cand, protected)

    def _spec(self, cand: Candidate, protected: bool) -> TrialSpec:
        d = self.defaults
        return TrialSpec(text=cand.text, family=cand.family, name=cand.name or "", task=d.task,
                         task_options=d.task_options, epochs=d.epochs, seeds=d.seeds, backend=d.backend,
                         device=d.device, precision=d.precision, report_steps=self.report_steps,
                         protected=protected, cpu_threads=d.cpu_threads, metric=d.metric, mode=d.mode,
                         trial_timeout=self.time_limit.seconds() if self.time_limit else d.trial_timeout)

    def _rejected(self, cand: Candidate, fp: str, asked: bool) -> bool:
        """Screen ``cand``; record one rejected as failed (no training of the budget spent).
        Only the optimiser's proposals (``asked``) count towards the rejections in a row."""
        start = time.perf_counter()
        try:
            why = screen(cand)
        except Exception:  # noqa: BLE001 - the worker builds it again and records what fails
            why = ""
        if not why:
            self.rejected_in_a_row = 0
            return False
        res = self._to_result(cand, fp, Result(key=cand.key, text=cand.text, status="nan", message=why,
                                               wall_time=time.perf_counter() - start))
        self.rejected += 1
        self.rejected_in_a_row += asked
        waited = self.seen.recorded(fp, res)
        self._record(cand, res)
        for dup in waited:
            self._tell(dup, res)
        if self.rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
            self.exhausted = True
            self.events.note(f"the last {MAX_REJECTED_IN_A_ROW} proposals were all rejected before training: "
                             "the search stops proposing (see their reasons in the leaderboard's failed rows)")
        return True

    def _reuse(self, cand: Candidate, fp: str, stored: Result) -> None:
        result = dataclasses.replace(stored, family=cand.family, text=cand.text, key=cand.key, fingerprint=fp,
                                     name=cand.name or "", trial=None)
        self.seen.recorded(fp, result)
        self.reused += 1
        self._record(cand, result, note=f"reused from {stored.reused_from}")

    # -- progress ---------------------------------------------------------------
    def progress(self, trial_id: str, report: TrialProgress) -> None:
        """A running trial's epoch report: its curves so far to the store (the trial's
        intermediate values, live in optuna-dashboard) and to the watchers."""
        entry = self.pending.get(trial_id)
        if entry is None:
            return  # recorded already: a late report
        self.last_progress[trial_id] = (report, time.monotonic())
        trial = self.trials.get(trial_id)
        if trial is not None:
            self.stored.report_curves(trial, report.curves)
        self.events.trial_progress(self.snapshot(), entry[0].text)

    # -- completing -------------------------------------------------------------
    def complete(self, trial_id: str, outcome: Result | TrialProgress | None) -> None:
        """Record trial ``trial_id``: its :class:`Result`, the last :class:`TrialProgress`
        of a trial the scheduler stopped early, or ``None`` for a worker that died."""
        entry = self.pending.pop(trial_id, None)
        if entry is None:
            return
        cand, _ = entry
        self.last_progress.pop(trial_id, None)
        self.durations.append(time.monotonic() - self.running_since.pop(trial_id, time.monotonic()))
        fp = cand.fingerprint()
        res = self._to_result(cand, fp, outcome)
        waited = self.seen.recorded(fp, res)
        self._record(cand, res, trial=self.trials.pop(trial_id, None))
        for dup in waited:
            self._tell(dup, res)
        if fp in self.references:
            self._check_references()

    def _tell(self, cand: Candidate, res: Result) -> None:
        """Tell the optimiser ``res`` as higher-is-better scores (what every optimiser assumes),
        a candidate that did not converge (its final training loss far above the
        references', :mod:`actsearch.scoring`) below every converged one once the
        references are in."""
        if self.defaults.mode == "min" and res.score is not None:
            res = dataclasses.replace(res, score=higher_is_better(res.score, "min"),
                                      seed_scores=[higher_is_better(s, "min") for s in res.seed_scores])
        if res.score is not None and res.loss_curves:
            refs = [final_loss(self.seen.results[fp].loss_curves) for fp in self.references
                    if fp in self.seen.results]
            flag = converged(final_loss(res.loss_curves), refs)
            if flag is False:
                res = dataclasses.replace(res, score=holds_up_value(res.score, flag))
        self.optimizer.tell(cand, res)

    def _check_references(self) -> None:
        """Stop the search when every reference failed with the same error: the task
        cannot train anything, so every candidate would fail the same way."""
        ended = [self.seen.prior(fp) for fp in self.references]
        if self.error is not None or any(r is None for r in ended):
            return
        messages = {(r.message or "").splitlines()[0] if r.message else "" for r in ended if r.status == "error"}
        if len(messages) == 1 and all(r.status == "error" for r in ended):
            metric = self.defaults.metric
            self.error = ActsearchError(
                f"search stopped: every reference failed with the same error: {messages.pop()}. A task's "
                f"train(act_factory, budget, seed, report) must call report(epoch, {{{metric!r}: value, ...}}) "
                f"after each epoch and/or return {metric!r}: a number, or a dict holding it (--metric names the "
                "score, --mode max|min which way is better)")

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
        if not res.reused_from and not rejected_before_training(res):
            self.trained += 1
        self._tell(cand, res)
        self.stored.record(res, optimizer_state=self.optimizer.state_dict(), trial=trial, params=cand.params)
        if self.time_limit is not None and self.time_limit.observe(res):
            self.events.note(self.time_limit.describe())
        mode = self.defaults.mode
        if res.status == "ok" and res.score is not None and (
                self.best is None or higher_is_better(res.score, mode) > higher_is_better(self.best, mode)):
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
