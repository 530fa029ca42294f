"""Drive one optimiser against one task on Ray Tune, recording into the store.

Flow: open the store; start local Ray (``ray.init(num_cpus=workers)``) or join
``address``; queue the references (relu, gelu, silu), then the user's candidates,
then ask the optimiser.  A :class:`ray.tune.search.Searcher` hands Tune one
candidate per trial, skipping any whose fingerprint was already trained on the same
task, epochs and seeds (the stored result is copied into this search and told to
the optimiser instead).  Each trial trains the candidate on K seeds one after
another, reporting the per-epoch metric so ASHA can stop poor candidates early.
When a trial ends, the driver records it and tells the optimiser.  Ctrl-C stops
Tune cleanly; everything recorded stays in the store.

Faults (see ``benchmarks/notes/faults.md``): the candidates handed to workers are
kept in the store (``inflight``) until recorded, so a driver killed hard loses only
those trials' work: ``resume=True`` trains them first, skips every recorded
fingerprint and restores the optimiser's state saved with the last record.  A lost
worker process is retried (``max_failures``); a candidate that raises, returns
NaN, runs out of memory or passes ``trial_timeout`` seconds is recorded with its
status and reason and is not retried.  Before training, each candidate is screened
on [-10, 10] (see :func:`actsearch._trial.screen`): non-finite or huge outputs or
gradients are recorded as ``nan`` "rejected before training".

Example (Python API, the same as ``actsearch search``)::

    from actsearch.runner import run_search
    outcome = run_search(task="digits", space="grammar", budget=6, workers=2, epochs=2)
    print(outcome.results[0].text, outcome.results[0].score)
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from actsearch.errors import ActsearchError
from actsearch.expr import Candidate, parse
from actsearch.registry import preset
from actsearch.result import Result
from actsearch.store import DEFAULT_URL, Store, StoredSearch

__all__ = ["run_search", "SearchOutcome", "REFERENCES"]

REFERENCES = ("relu", "gelu", "silu")
#: consecutive duplicate proposals after which a (small) space counts as exhausted
_MAX_SKIPS = 200


@dataclass
class SearchOutcome:
    """What :func:`run_search` returns."""

    name: str
    url: str
    results: list[Result]
    references: list[str]
    finished: bool
    trained: int
    reused: int
    wall_time: float
    timings: dict[str, float] = field(default_factory=dict)


class _Driver:
    """The Searcher's brain: queue, de-duplication, budget, recording.  Runs in the driver."""

    def __init__(self, stored: StoredSearch, optimizer, queue: list[Candidate], config: dict,
                 budget: int, known: dict[str, Result], progress: Callable[[str], None] | None):
        self.stored, self.optimizer, self.queue = stored, optimizer, list(queue)
        self.config, self.budget, self.known, self.progress = config, budget, known, progress
        self.pending: dict[str, Candidate] = {}
        self.protected: dict[str, bool] = {}
        # references and the user's own candidates always train to the end
        self.queue_protected = {c.fingerprint(): True for c in queue}
        self.report_steps: list[int] = []
        self.waiting: dict[str, list[Candidate]] = {}
        self.seen: dict[str, Result | None] = {}
        for r in stored.results():
            fp = r.extra.get("fingerprint")
            if fp:
                self.seen[fp] = r
        self.trained = sum(1 for r in stored.results() if not r.extra.get("reused_from"))
        self.launched = self.trained
        self.reused = 0
        self.recorded = len(self.seen)
        self.best: float | None = max((r.score for r in stored.results() if r.status == "ok" and r.score is not None),
                                      default=None)
        self.exhausted = False
        self.train_time = 0.0
        self.worker_time = 0.0
        self.error: BaseException | None = None

    # -- asking -----------------------------------------------------------------
    def _next(self) -> Candidate | None:
        if self.queue:
            return self.queue.pop(0)
        return self.optimizer.ask()  # None from _QueueOnly: nothing more to train

    def suggest(self, trial_id: str) -> dict | str | None:
        from ray.tune.search import Searcher

        skips = 0
        while True:
            if self.launched >= self.budget or self.exhausted:
                return Searcher.FINISHED
            cand = self._next()
            if cand is None:
                self.exhausted = True
                return Searcher.FINISHED
            fp = cand.fingerprint()
            if fp in self.seen or fp in self.waiting:
                prior = self.seen.get(fp)
                if prior is not None:
                    self.optimizer.tell(cand, prior)
                else:
                    self.waiting[fp].append(cand)
                skips += 1
                if skips >= _MAX_SKIPS:
                    self.exhausted = True
                continue
            if fp in self.known and self._reusable(fp, self.known[fp]):
                self._reuse(cand, fp, self.known[fp])
                continue
            protected = bool(self.queue_protected.pop(fp, False))
            self.waiting[fp] = []
            self.pending[trial_id] = cand
            self.protected[trial_id] = protected
            self.launched += 1
            self._save_inflight()
            c = self.config
            return {"text": cand.text, "family": cand.family, "name": cand.name or "",
                    "trial_timeout": c.get("trial_timeout"), "task": c["task_name"],
                    "task_options": c["task_options"], "epochs": c["epochs"],
                    "seeds": list(range(c["seed"], c["seed"] + c["seeds"])), "backend": c["backend"],
                    "report_steps": self.report_steps, "protected": protected}

    def _save_inflight(self) -> None:
        self.stored.set_inflight([{"text": c.text, "family": c.family, "name": c.name or "",
                                   "protected": self.protected.get(t, False)}
                                  for t, c in self.pending.items()])

    def _reusable(self, fp: str, stored: Result) -> bool:
        """A run stopped early stands in only where this one could be stopped early too."""
        if stored.status != "pruned":
            return True
        return bool(self.config.get("early_stop")) and not self.queue_protected.get(fp, False)

    def _reuse(self, cand: Candidate, fp: str, stored: Result) -> None:
        result = Result.from_dict(stored.to_dict())
        result.family, result.text, result.key = cand.family, cand.text, cand.key
        result.extra = dict(stored.extra, fingerprint=fp, name=cand.name or "")  # first_seed: Store.evaluated
        result.extra.pop("trial", None)
        self.seen[fp] = result
        self.reused += 1
        self._record(cand, result, note=f"reused from {stored.extra.get('reused_from')}")

    # -- completing -------------------------------------------------------------
    def complete(self, trial_id: str, result: dict | None, error: bool) -> None:
        cand = self.pending.pop(trial_id, None)
        self.protected.pop(trial_id, None)
        if cand is None:
            return
        fp = cand.fingerprint()
        res = self._to_result(cand, fp, result, error)
        self.seen[fp] = res
        self._record(cand, res)
        self._save_inflight()  # after the record: a kill in between re-queues, never loses
        for dup in self.waiting.pop(fp, []):
            self.optimizer.tell(dup, res)

    def _to_result(self, cand: Candidate, fp: str, metrics: dict | None, error: bool) -> Result:
        c = self.config
        extra = {"fingerprint": fp, "task": c["task"], "epochs": c["epochs"], "seeds": c["seeds"],
                 "first_seed": c["seed"], "name": cand.name or "", "reused_from": ""}
        base = dict(key=cand.key, text=cand.text, family=cand.family, metric=c.get("metric", ""), extra=extra)
        if metrics is None or error and "payload" not in (metrics or {}):
            return Result(status="error", message="the trial's worker failed (after retries)", **base)
        if metrics.get("payload"):
            p = json.loads(metrics["payload"])
            self.train_time += p.get("train_time", 0.0)
            self.worker_time += p.get("wall_time", 0.0)
            extra["train_time"] = p.get("train_time", 0.0)
            extra["kernel_ms"] = p.get("kernel_ms") or None  # not measured for a failed build
            base["metric"] = p.get("metric") or base["metric"]
            return Result(status=p["status"], score=p["score"], seed_scores=p["seed_scores"],
                          spread=p["spread"], curves=p["curves"], learned_params=p["learned_params"],
                          wall_time=p["wall_time"], message=p["message"], **base)
        # stopped early by the scheduler: the last per-epoch report is what we know
        curves = json.loads(metrics.get("curves", "[]"))
        self.worker_time += float(metrics.get("elapsed", 0.0))
        self.train_time += float(metrics.get("elapsed", 0.0)) - float(metrics.get("setup_time", 0.0))
        return Result(status="pruned", score=float(metrics["score"]), curves=curves,
                      wall_time=float(metrics.get("elapsed", metrics.get("time_total_s", 0.0))),
                      message=f"stopped early by ASHA after {metrics.get('step')} epochs", **base)

    def _record(self, cand: Candidate, res: Result, note: str = "") -> None:
        if not res.extra.get("reused_from"):
            self.trained += 1
        self.recorded += 1
        self.optimizer.tell(cand, res)
        self.stored.record(res, optimizer_state=self.optimizer.state_dict())
        if res.status == "ok" and res.score is not None and (self.best is None or res.score > self.best):
            self.best = res.score
        if self.progress is not None:
            score = f"{res.score:.4f}" if res.score is not None else "-"
            best = f"{self.best:.4f}" if self.best is not None else "-"
            why = f" ({res.message})" if res.status not in ("ok",) and res.message else ""
            extra = f" [{note}]" if note else ""
            self.progress(f"[{self.trained}/{self.budget}] {res.status:<8} {score:>8}  best {best}  "
                          f"{res.text}{why}{extra}")


class _QueueOnly:
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


def _searcher_class():
    from ray.tune.search import Searcher

    class CandidateSearcher(Searcher):
        """Wraps the optimiser's ask/tell for Ray Tune (runs in the driver)."""

        def __init__(self, driver: _Driver):
            super().__init__(metric="score", mode="max")
            self.driver = driver

        def suggest(self, trial_id):
            if self.driver.error is not None:
                return Searcher.FINISHED
            try:
                return self.driver.suggest(trial_id)
            except Exception as exc:  # noqa: BLE001 - re-raised by run_search after Tune stops
                self.driver.error = exc
                return Searcher.FINISHED

        def on_trial_complete(self, trial_id, result=None, error=False):
            try:
                self.driver.complete(trial_id, result, error)
            except Exception as exc:  # noqa: BLE001
                self.driver.error = self.driver.error or exc

    return CandidateSearcher


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (ray.init would retry for minutes)."""
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = target.rpartition(":")
    if address in ("auto", "local") or not sep:
        return
    if not port.isdigit():
        raise ActsearchError(f"Ray address {address!r} is not host:port")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ActsearchError(f"cannot reach the Ray cluster at {address!r}: {reason}") from None


def _start_ray(workers: int, address: str | None) -> bool:
    """Start (or join) Ray; True when we started it and must shut it down."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # local workers inherit this environment: let them import a user's --task module.
    paths = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                  configure_logging=True)
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=workers, **kwargs)
    except Exception as exc:  # noqa: BLE001
        where = address or "a local Ray instance"
        raise ActsearchError(f"cannot start or join {where}: {type(exc).__name__}: {exc}") from None
    return True


def _quiet_tune() -> None:
    # the result loggers (CSV/JSON/TensorBoard per trial) cost time and disk for nothing here
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "1000")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_search(
    task: str = "mnist1d-mlp",
    space="grammar",
    optimizer: str | None = "random",
    budget: int = 12,
    workers: int = 2,
    seeds: int = 1,
    epochs: int | None = None,
    candidates: list[str | Candidate] | None = None,
    storage: str | None = None,
    name: str | None = None,
    resume: bool = False,
    early_stop: bool = True,
    address: str | None = None,
    seed: int = 0,
    backend: str = "auto",
    max_failures: int = 2,
    task_options: dict | None = None,
    space_options: dict | None = None,
    optimizer_options: dict | None = None,
    references: tuple[str, ...] = REFERENCES,
    progress: Callable[[str], None] | None = None,
    results_dir: str | None = None,
    trial_timeout: float | None = None,
    notes: dict | None = None,
) -> SearchOutcome:
    """Run (or resume) a search; see the module docstring.  Returns the stored results.

    ``trial_timeout`` (seconds, whole candidate over all seeds) records a slower
    candidate as ``timeout``; ``max_failures`` retries a trial whose worker died.
    ``optimizer=None`` trains only the references and ``candidates`` (formulas or
    :class:`Candidate` objects), ``space`` is then ignored.  ``notes`` are added to
    the stored configuration (e.g. which search a confirmation re-trains).
    """
    from actsearch.optimizers.registry import get_optimizer
    from actsearch.registry import space as make_space
    from actsearch.tasks import get_task

    if budget <= 0:
        raise ActsearchError(f"budget must be a positive number of candidates, not {budget}")
    if workers <= 0:
        raise ActsearchError(f"workers must be at least 1, not {workers}")
    if seeds <= 0:
        raise ActsearchError(f"seeds must be at least 1, not {seeds}")
    if epochs is not None and epochs <= 0:
        raise ActsearchError(f"epochs must be at least 1, not {epochs}")
    if trial_timeout is not None and not trial_timeout > 0:
        raise ActsearchError(f"trial timeout must be a positive number of seconds, not {trial_timeout}")
    if max_failures < 0:
        raise ActsearchError(f"max_failures must be 0 or more, not {max_failures}")
    if address:
        _check_reachable(address)  # before the store: an unreachable cluster leaves nothing behind
    start = time.perf_counter()
    task_options = dict(task_options or {})
    task_obj = get_task(task, **task_options)  # unknown names fail here, before Ray starts
    epochs = int(epochs or task_obj.default_budget)
    if task_obj.score_epochs > epochs:
        raise ActsearchError(f"score_epochs {task_obj.score_epochs} is more than the {epochs} epochs each run "
                             "trains; lower it or raise --epochs")
    if optimizer is None:
        opt = _QueueOnly()
        space = space if isinstance(space, str) or space is None else space.name
    else:
        _check_optimizer_name(optimizer)  # before building the space: one clear error first
        if isinstance(space, str):
            space_obj = make_space(space, **(space_options or {}))
        else:  # a SearchSpace instance (Python API)
            space_obj, space = space, space.name
        opt = get_optimizer(optimizer, space_obj, seed=seed, **(optimizer_options or {}))
    user = [c if isinstance(c, Candidate) else parse(c) for c in (candidates or [])]
    url = storage or DEFAULT_URL
    if results_dir is None:
        results_dir = _results_dir(url)
    store = Store(url)
    name = name or _default_name(store, task, space, optimizer or "queue")
    config = {"task": task_obj.spec, "task_name": task, "task_options": task_options, "space": space,
              "space_options": space_options or {}, "optimizer": optimizer,
              "optimizer_options": optimizer_options or {}, "epochs": epochs, "seeds": seeds,
              "budget": budget, "seed": seed, "early_stop": early_stop, "backend": backend,
              "metric": task_obj.metric, "references": list(references),
              "candidates": [c.text for c in user], "trial_timeout": trial_timeout, **(notes or {})}
    stored = store.open_search(name, config, resume=resume)
    if resume and stored.optimizer_state:
        opt.load_state_dict(stored.optimizer_state)
    queue = [preset(r) for r in references] + user
    lost: list[tuple[Candidate, bool]] = []
    if resume:  # trials in flight when the last run died: train them first
        for item in stored.inflight:
            try:
                cand = parse(item["text"], family=item.get("family", "custom"), name=item.get("name") or None)
            except ActsearchError:
                continue
            lost.append((cand, bool(item.get("protected"))))
        queue = [c for c, _ in lost] + queue
    known = store.evaluated(task_obj.spec, epochs, seeds, first_seed=seed)
    driver = _Driver(stored, opt, queue, config, budget, known, progress)
    for cand, protected in lost:  # an optimiser's proposal stays prunable after a resume
        if not protected and cand.fingerprint() not in {c.fingerprint() for c in queue[len(lost):]}:
            driver.queue_protected.pop(cand.fingerprint(), None)
    t_ray = time.perf_counter()
    _quiet_tune()
    started = False
    fit_time = 0.0
    try:
        started = _start_ray(workers, address)
        ray_start = time.perf_counter() - t_ray
        t_fit = time.perf_counter()
        # Tune turns the first Ctrl-C into a graceful stop; one before or after it lands here
        _fit(driver, workers, epochs * seeds, early_stop, max_failures, results_dir, name)
        fit_time = time.perf_counter() - t_fit
    except KeyboardInterrupt:
        ray_start = ray_start if "ray_start" in locals() else time.perf_counter() - t_ray
    finally:
        if started:
            import ray

            ray.shutdown()
    finished = (driver.launched >= budget or driver.exhausted) and not driver.pending and driver.error is None
    stored.set_state("finished" if finished else "interrupted")
    if driver.error is not None:
        exc = driver.error
        if isinstance(exc, ActsearchError):
            raise exc
        raise ActsearchError(f"search {name!r} stopped: {type(exc).__name__}: {exc} "
                             "(everything recorded so far is kept; --resume continues)") from exc
    return SearchOutcome(
        name=name, url=url, results=stored.results(), references=list(references), finished=finished,
        trained=driver.trained, reused=driver.reused, wall_time=time.perf_counter() - start,
        timings={"ray_start": ray_start, "fit": fit_time, "train": driver.train_time,
                 "worker": driver.worker_time},
    )


def _fit(driver: _Driver, workers: int, max_t: int, early_stop: bool, max_failures: int,
         results_dir: str, name: str) -> None:
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from actsearch._trial import trainable

    if early_stop and max_t >= 3:
        # the first rung at a fifth of the budget: epoch-1 accuracies are too noisy to judge
        grace, rf = max(1, max_t // 5), 3
        scheduler = _protected_asha()(time_attr="step", max_t=max_t, grace_period=grace, reduction_factor=rf)
        rung, steps = grace, []
        while rung < max_t:
            steps.append(rung)
            rung *= rf
        driver.report_steps = steps
    else:
        scheduler = FIFOScheduler()
        driver.report_steps = []
    searcher = _searcher_class()(driver)
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=-1,
                                    max_concurrent_trials=workers, metric="score", mode="max",
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=_safe(name), storage_path=os.path.abspath(results_dir),
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  verbose=0, log_to_file=False),
    )
    tuner.fit()


def _check_optimizer_name(name: str) -> None:
    from actsearch.optimizers.registry import OPTIMIZERS, optimizers
    from actsearch.registry import UnknownNameError

    if name not in OPTIMIZERS:
        raise UnknownNameError(f"unknown optimizer {name!r}; choose one of: {', '.join(optimizers())}")


def _protected_asha():
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class ProtectedASHA(ASHAScheduler):
        """ASHA that never stops references or the user's own candidates (it still
        records their scores at each rung, so they set the bar for the others)."""

        def on_trial_result(self, tune_controller, trial, result):
            action = super().on_trial_result(tune_controller, trial, result)
            if trial.config.get("protected") and not result.get("done"):
                return TrialScheduler.CONTINUE
            return action

    return ProtectedASHA


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _results_dir(url: str) -> str:
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return os.path.join(os.path.dirname(os.path.abspath(url[len("sqlite:///"):])), "ray")
    return os.path.join("results", "ray")


def _default_name(store: Store, task: str, space: str, optimizer: str) -> str:
    base = f"{task.replace(':', '_')}-{space}-{optimizer}"
    names = {s["name"] for s in store.searches()}
    i = 1
    while f"{base}-{i}" in names:
        i += 1
    return f"{base}-{i}"


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
