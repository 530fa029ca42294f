"""``run_search``: one optimiser against one task, trials on Ray, results in the store.

Flow: check the config; build the task, space and optimiser (unknown names fail
here, before Ray starts); start or join Ray and place the trials (device and
resources); open the store (or reopen it for a resume, from the stored
configuration); queue the references, the user's candidates and the trials a
killed driver left in flight; run the :class:`~actsearch.search.driver.Driver`
through :func:`~actsearch.search.ray.tune.run_trials`.  SIGINT (Ctrl-C) and SIGTERM
stop it alike (:mod:`actsearch.stopping`): before the trials start, at once; once
they run, the first signal stops Tune in order (the trials in flight stay in flight,
the search is marked interrupted, ``--resume`` continues); everything recorded stays
in the store.

Faults: each trial trains in a process of its own that the Ray worker supervises
(:mod:`~actsearch.search.trial.supervisor`).  A candidate that raises (anything), returns
NaN or garbage, runs out of memory, ends or crashes its process, or passes
``trial_timeout`` seconds (its process is killed; by default a multiple of the
slowest reference's time: :mod:`~actsearch.search.time_limit`) is recorded once with
its status and reason and is not retried; only a lost Ray worker (its node died) is retried
(``max_failures``).  A task that loads here but not on the workers stops the search
in one line (their environment differs; nothing is recorded for it and ``--resume``
continues).  Before training, each candidate is screened on [-10, 10] (see
:func:`actsearch.search.trial.evaluate.screen`).  Ray's own messages go to ``ray.log`` in
Tune's folder of the search.

Example (Python API, the same as ``actsearch search``)::

    from actsearch.search import SearchConfig, run_search
    outcome = run_search(SearchConfig(task="digits", space="grammar", budget=6, epochs=2))
    print(outcome.results[0].text, outcome.results[0].score)
    run_search(name=outcome.name, resume=True, budget=10)   # continue it with a larger budget
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from typing import Callable

from actsearch import stopping
from actsearch.errors import ActsearchError, StoreError
from actsearch.optimizers.registry import OPTIMIZERS, get_optimizer
from actsearch.registry import PRESETS, candidate, preset
from actsearch.result import Result
from actsearch.registry import space as make_space
from actsearch.scoring import score_rule
from actsearch.store import DEFAULT_URL, Store, masked
from actsearch.symbolic.expr import Candidate, parse
from actsearch.tasks import get_task
from actsearch.tasks.user import refuse_unmarked

from .config import SearchConfig, from_stored, replay_config, resume_config
from .driver import Driver, QueueOnly, SearchOutcome, TrialDefaults
from .events import SearchEvents, as_events
from .option import NAME_LENGTH
from .time_limit import TrialTimeLimit
from .ray.cluster import check_reachable, ray_cluster
from .ray.placement import plan_placement
from .ray.shipping import runtime_env, trial_task_options, trial_task_spec
from .ray.tune import run_trials, safe_name
from .warm_start import load_prior, warm_start_source

__all__ = ["run_search"]


def run_search(config: SearchConfig | None = None, /, *,
               progress: Callable[[str], None] | SearchEvents | None = None, **options) -> SearchOutcome:
    """Run (or resume) a search; see the module docstring.  Returns the stored results.

    Pass a :class:`SearchConfig`, or its fields as keyword arguments.  ``progress``
    is a :class:`~actsearch.search.events.SearchEvents` (e.g. the live display of
    ``actsearch search``) or a function that takes one line per recorded candidate.  With
    ``resume=True`` the search ``name`` continues from its stored configuration;
    the keyword arguments given may change only where and how long it runs
    (:data:`~actsearch.search.config.MAY_CHANGE`), anything else is refused in one
    message.
    """
    with stopping.handling_signals():  # the command line's already; a search from Python gets them here
        return _run(config, progress, options)


def _run(config: SearchConfig | None, progress, options: dict) -> SearchOutcome:
    stopping.check()  # asked to stop before it began (the exception may have been swallowed)
    start = time.perf_counter()
    events = as_events(progress)
    if config is not None and options:
        config = dataclasses.replace(config, **options)
    if options.get("warm_start"):
        options["warm_start"] = warm_start_source(options["warm_start"])
    if config is not None and config.warm_start:
        config = dataclasses.replace(config, warm_start=warm_start_source(config.warm_start))
    url = (config.storage if config else options.get("storage")) or DEFAULT_URL
    resume = config.resume if config else bool(options.get("resume"))
    replay = config.replay if config else options.get("replay")
    store = None
    if resume:
        store = Store(url)
        name = config.name if config else options.get("name")
        if not name:
            raise ActsearchError("--resume needs the --name of the search to continue")
        known = [s["name"] for s in store.searches()]
        if name not in known:
            raise StoreError(f"cannot resume search {name!r}: it is not in {masked(url)} "
                             f"(searches: {', '.join(known) or 'none'})")
        stored = store.search(name).config
        given = {f.name: getattr(config, f.name) for f in dataclasses.fields(SearchConfig)} if config else options
        config = resume_config(stored, given)
    elif replay:
        store = Store(url)
        source = store.search(replay)  # StoreError naming the searches there
        given = _changed(config) if config else dict(options)
        given.setdefault("budget", max(1, len(source.results())))
        config = replay_config(source.config, replay, given)
    elif config is None:
        config = SearchConfig(**options)
    config.check()
    if config.task_source:  # code named by a settings file or a stored search: only a marked task runs
        refuse_unmarked(config.task, config.task_source)
    if config.address:
        check_reachable(config.address)  # before the store: an unreachable cluster leaves nothing behind
    task_obj = get_task(config.task, **config.task_options)
    metric, mode = _metric_and_mode(config, task_obj)
    task_obj = task_obj.with_metric(metric)
    # what the workers get: the user's folder and packages on a cluster, paths they can open
    shipment = runtime_env(task=config.task, address=config.address, working_dir=config.working_dir,
                           py_modules=config.py_modules)
    trial_options = trial_task_options(config.task_options, getattr(task_obj, "path_options", ()),
                                       shipment.working_dir)
    epochs = int(config.epochs or task_obj.default_budget)
    if "score_epochs" in config.task_options and task_obj.score_epochs > epochs:  # the default adapts
        raise ActsearchError(f"score_epochs {task_obj.score_epochs} is more than the {epochs} epochs each run "
                             "trains; lower it or raise --epochs")
    if config.optimizer is None:
        opt = QueueOnly()
    else:
        OPTIMIZERS.load(config.optimizer)  # before building the space: an unknown name is the first error
        space_obj = (make_space(config.space, **config.space_options) if isinstance(config.space, str)
                     else config.space)
        prior = {"prior": load_prior(config.warm_start, store or Store(url))} if config.warm_start else {}
        opt = get_optimizer(config.optimizer, space_obj, seed=config.seed, objective=config.objective,
                            **config.optimizer_options, **prior)
    user = [c if isinstance(c, Candidate) else candidate(c) for c in config.candidates]  # presets or formulas
    store = store or Store(url)
    replayed, replay_protected = _replayed(store, config.replay) if config.replay else ([], set())
    space_name = config.space if isinstance(config.space, str) or config.space is None else config.space.name
    name = config.name or _default_name(store, config.task, space_name or "none",
                                        config.optimizer or ("replay" if config.replay else "queue"))
    results_dir = config.results_dir or _results_dir(url)

    # one driver per search: a second one is refused here, in one line, before Ray starts
    lease = store.lease(name, new=not config.resume)
    t_ray = time.perf_counter()
    ray_start = fit_time = 0.0
    driver = None
    num_cpus = None if config.workers is None else max(1, round(config.workers * config.cpus_per_trial))
    events.note(f"joining the Ray cluster at {config.address}" if config.address else "starting a local Ray instance")
    if shipment.working_dir:
        events.note(f"shipping {shipment.working_dir} to the cluster's workers")
    for note in shipment.notes:
        events.note(note)
    log_path = os.path.join(os.path.abspath(results_dir), safe_name(name), "ray.log")
    try:
        with ray_cluster(config.address, num_cpus=num_cpus, device=config.device, runtime_env=shipment.env,
                         log_path=log_path) as resources:
            ray_start = time.perf_counter() - t_ray
            stopping.check()  # a signal while Ray started (the exception may have been swallowed)
            placement = plan_placement(config.device, resources, workers=config.workers,
                                       cpus_per_trial=config.cpus_per_trial, gpus_per_trial=config.gpus_per_trial,
                                       local=not config.address)
            stored_search = store.open_search(name, config.stored(task_spec=task_obj.spec, epochs=epochs,
                                                                  metric=metric, mode=mode),
                                             resume=config.resume, lease=lease)
            driver = _driver(config, stored_search, opt, user + replayed, task_obj, epochs, placement, store,
                             events, _TrialSetup(trial_options, trial_task_spec(config.task, shipment.working_dir),
                                                 metric, mode, replay_protected))
            driver.workers = placement.workers  # the ETA's parallel slots
            # from here a signal asks: Tune stops the trials and the search ends in order (or,
            # when Ray went down with a SIGTERM to the whole process group, is ended from the side)
            stopping.ask_only(on_stuck=lambda: _abandon(driver, lease))
            events.search_started(driver.snapshot(), f"{placement.describe()}; score: {score_rule(metric, mode)}")
            t_fit = time.perf_counter()
            # a first signal stops Tune in order (tune.StopRequested); a second one lands here
            run_trials(driver, placement, max_t=epochs * config.seeds, early_stop=config.early_stop,
                       max_failures=config.max_failures, results_dir=results_dir, name=name,
                       loggers=config.loggers, callbacks=config.callbacks, log_path=log_path)
            fit_time = time.perf_counter() - t_fit
    except KeyboardInterrupt:
        pass
    except BaseException:
        # asked to stop, Ray may go down under the trial loop (a signal to the whole process group)
        if driver is None or stopping.requested() is None:
            lease.release()
            raise
    if driver is None:
        lease.release()
        raise KeyboardInterrupt
    driver.stored.set_state("finished" if driver.finished else "interrupted")
    lease.release()  # after the last write: the next driver finds the final state
    driver.events.search_finished(driver.snapshot(), driver.finished)
    if driver.error is not None:
        exc = driver.error
        if isinstance(exc, ActsearchError):
            raise exc
        raise ActsearchError(f"search {name!r} stopped: {type(exc).__name__}: {exc} "
                             "(everything recorded so far is kept; --resume continues)") from exc
    return SearchOutcome(
        name=name, url=url, results=driver.stored.results(), references=list(config.references),
        finished=driver.finished, trained=driver.trained, reused=driver.reused, rejected=driver.rejected,
        wall_time=time.perf_counter() - start,
        timings={"ray_start": ray_start, "fit": fit_time, "train": driver.train_time, "worker": driver.worker_time},
        notes=list(shipment.notes), metric=metric, mode=mode,
    )


def _changed(config: SearchConfig) -> dict:
    """The fields of ``config`` that differ from the defaults: what its caller set."""
    default = SearchConfig()
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(SearchConfig)
            if getattr(config, f.name) != getattr(default, f.name)}


def _metric_and_mode(config: SearchConfig, task) -> tuple[str, str]:
    """The search's metric (``--metric``, else the task's) and which way it is better
    (``--mode``, else the task's own for its own metric; another metric needs ``--mode``)."""
    metric = config.metric or task.metric
    if config.mode:
        return metric, config.mode
    if metric == task.metric:
        return metric, getattr(task, "mode", "max")
    raise ActsearchError(f"--metric {metric} is not the task's own metric ({task.metric}): say whether a higher "
                         f"{metric} is better with --mode max, or a lower one with --mode min")


def _replayed(store: Store, source: str) -> tuple[list[Candidate], set[str]]:
    """The candidates of the stored search ``source`` in the order it recorded them, and
    the fingerprints of those it never stopped early (its references and user's own)."""
    found = store.search(source)
    out = []
    for r in found.results():
        try:
            out.append(parse(r.text, family=r.family or "custom", name=r.name or None))
        except ActsearchError:  # a text from a newer grammar: not this version's to train
            continue
    kept = from_stored(found.config)
    protected = {preset(n).fingerprint() for n in kept.references if n in PRESETS}
    for text in kept.candidates:
        try:
            protected.add(parse(text).fingerprint())
        except ActsearchError:
            continue
    return out, protected


@dataclasses.dataclass(frozen=True)
class _TrialSetup:
    """What run_search resolved for every trial: the task as the workers load it, its
    options, the metric and mode, and the replayed candidates never stopped early."""

    task_options: dict
    task: str
    metric: str
    mode: str
    protected: set


def _abandon(driver: Driver, lease) -> str:
    """The end of a search whose trial loop did not stop within :data:`~actsearch.stopping.STOP_GRACE`
    seconds of a SIGTERM (run on another thread, just before the process exits): its
    trials in flight stay in flight for a resume, as they would after an orderly stop."""
    driver.stored.set_state("interrupted")
    lease.release()
    return (f"Ray did not stop within {stopping.STOP_GRACE:g} s; search {driver.stored.name!r} is marked "
            "interrupted (--resume continues)")


def _driver(config: SearchConfig, stored, opt, user: list[Candidate], task_obj, epochs: int, placement,
            store: Store, events: SearchEvents, setup: _TrialSetup) -> Driver:
    """The driver of ``stored``, its queue and optimiser state restored on a resume."""
    if config.resume and stored.optimizer_state:
        opt.load_state_dict(stored.optimizer_state)
    references = [preset(r) for r in config.references]
    queue = references + user
    protected = {c.fingerprint() for c in references + user[:len(config.candidates)]} | setup.protected
    lost: list[Candidate] = []
    if config.resume:  # trials in flight when the last run died: train them first
        for item in stored.inflight:
            try:
                cand = parse(item["text"], family=item.get("family", "custom"), name=item.get("name") or None)
            except ActsearchError as exc:  # refused now (a stricter parser): recorded as failed, not dropped
                stored.record(Result(key="", text=item["text"], family=item.get("family", "custom"), status="error",
                                     fingerprint=item.get("fingerprint", ""), message=f"refused on resume: {exc}"))
                events.warning(f"{item['text']}: refused on resume: {exc}")
                continue
            lost.append(cand)
            if item.get("protected"):
                protected.add(cand.fingerprint())
    seeds = tuple(range(config.seed, config.seed + config.seeds))
    defaults = TrialDefaults(task=setup.task, task_options=dict(setup.task_options), task_spec=task_obj.spec,
                             metric=setup.metric, epochs=epochs, seeds=seeds, backend=config.backend,
                             device=placement.device, precision=config.precision, early_stop=config.early_stop,
                             trial_timeout=config.trial_timeout, cpu_threads=max(1, int(placement.cpus_per_trial)),
                             mode=setup.mode)
    known = store.evaluated(task_obj.spec, epochs, config.seeds, first_seed=config.seed, precision=config.precision)
    known = {fp: r for fp, r in known.items() if (r.metric or setup.metric) == setup.metric}  # scores of that metric
    # no --trial-timeout: a multiple of the slowest reference's time, so no candidate stalls the search
    reference_fps = {c.fingerprint() for c in references}
    time_limit = TrialTimeLimit(config.trial_timeout, reference_fps, [*known.values(), *stored.results()])
    events.note(time_limit.describe())
    return Driver(stored, opt, lost + queue, defaults, config.budget, known, events, protected=protected,
                  references=reference_fps, time_limit=time_limit)


def _results_dir(url: str) -> str:
    if url.startswith("sqlite:///") and url[len("sqlite:///"):] not in ("", ":memory:"):
        return os.path.join(os.path.dirname(os.path.abspath(url[len("sqlite:///"):])), "ray")
    return os.path.join("results", "ray")


def _default_name(store: Store, task: str, space: str, optimizer: str) -> str:
    """``TASK-SPACE-OPTIMIZER-N``, in the characters a search name may hold."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", f"{task}-{space}-{optimizer}").lstrip(".")[:NAME_LENGTH - 20]
    names = {s["name"] for s in store.searches()}
    i = 1
    while f"{base}-{i}" in names:
        i += 1
    return f"{base}-{i}"
