"""Re-train a search's best candidates and the references on fresh seeds.

A search keeps the candidates that scored best on the seeds it trained with, so the
winners' scores are biased upwards (the winner's curse: with hundreds of candidates,
some beat ReLU by luck alone).  :func:`confirm` takes the ``top`` completed
candidates of a finished search and trains them, together with the reference
activations (relu, gelu, silu), on ``seeds`` seeds the search never used, each one
to the end (no early stopping).  Seed *i* gives every candidate the same
initialisation stream and data order, so candidate and reference are compared seed
by seed: the leaderboard of the confirmation shows on how many seeds a candidate
beat the best reference (``wins``), the one-sided paired t-test p-value (``p``)
corrected for the candidates tested together (``p_holm``), and each candidate's id
and score in the search (``search_id``, ``search_score``);
:func:`actsearch.results.verdicts.verdicts` says for each whether it held up.  The
top is the search's leaderboard's (:func:`~actsearch.results.leaderboard.rank_order`):
candidates that did not converge come after every one that did; of a search of
``--objective pareto``, only those on its front of score against cost.  Fewer than 5
fresh seeds are warned about.

Fresh seeds still train and test on the data that picked the winners; a task
option such as MNIST-1D's ``data_seed`` (``task_options={"data_seed": "1"}``,
``--task-option data_seed=1``) moves the confirmation to a fresh sample of the data
as well.

The confirmation is an ordinary search in the same store, named ``NAME-confirm``
by default, whose configuration records the search it confirms (``confirms``), so
``actsearch leaderboard``, ``show``, ``report`` and ``export`` work on it as on any
other search, and ``resume=True`` continues an interrupted one.

Example (Python API; ``actsearch confirm NAME --top 3 --seeds 5`` is the same)::

    from actsearch.search.confirm import confirm
    from actsearch.results.leaderboard import leaderboard
    outcome = confirm("mnist1d-mlp-grammar-surrogate-1", top=3, seeds=5)
    print(leaderboard(search=outcome.name)[["formula", "score", "gain", "wins", "p"]])
"""

from __future__ import annotations

from typing import Callable

from actsearch.errors import ActsearchError
from actsearch.registry import REFERENCES, search_references
from actsearch.results.leaderboard import leaderboard
from actsearch.results.verdicts import few_seeds_warning
from actsearch.store import masked
from actsearch.store.view import StoreView
from actsearch.symbolic.expr import Candidate, parse

from .config import CONFIRM_SEEDS, CONFIRM_TOP, StoredConfig
from .driver import SearchOutcome
from .events import SearchEvents, as_events
from .run import run_search

__all__ = ["confirm", "pick_top", "fresh_seeds", "confirm_references"]


def confirm_references(config: dict) -> tuple[str, ...]:
    """The references a confirmation of the search stored with ``config`` trains: the
    search's own (:func:`~actsearch.registry.search_references`), or the default ones
    when it trained none (fresh seeds need a baseline)."""
    return search_references(config) or REFERENCES


def pick_top(ranked, entries, top: int, front: bool = False) -> list[Candidate]:
    """The ``top`` best completed candidates of a search, in the order of its
    leaderboard ``ranked`` (converged ones first), references left out; ``entries``
    maps each row's id to its stored :class:`~actsearch.store.view.Entry`.  With
    ``front`` (a search of ``--objective pareto``), only those on its front of score
    against cost, still best score first."""
    chosen: list[Candidate] = []
    seen: set[str] = set()
    for _, row in ranked.iterrows():
        if row["status"] != "ok" or isinstance(row["baseline"], str) or (front and not bool(row["front"])):
            continue
        r = entries[row["id"]].result
        cand = parse(r.text, family=r.family, name=r.name or None)
        if cand.fingerprint() in seen:
            continue
        seen.add(cand.fingerprint())
        chosen.append(cand)
        if len(chosen) == top:
            break
    return chosen


def fresh_seeds(search_seed: int, search_seeds: int, first_seed: int | None, seeds: int,
                search: str = "the search") -> range:
    """The confirmation's seeds: ``seeds`` of them from ``first_seed`` (default: right
    after the search's), refused where they overlap the search's own, since seeds that
    picked the winners confirm nothing."""
    if seeds < 2:
        raise ActsearchError(f"a confirmation needs at least 2 seeds to compare, not {seeds}")
    used = range(int(search_seed), int(search_seed) + int(search_seeds))
    start = used.stop if first_seed is None else int(first_seed)
    fresh = range(start, start + seeds)
    if set(used) & set(fresh):
        where = search if search == "the search" else f"search {search!r}"
        raise ActsearchError(f"seeds {fresh.start}..{fresh.stop - 1} overlap the seeds {where} trained with "
                             f"({used.start}..{used.stop - 1}); pick a first seed of {used.stop} or higher")
    return fresh


def confirm(
    search: str,
    *,
    top: int | None = None,
    seeds: int | None = None,
    first_seed: int | None = None,
    workers: int | None = None,
    storage: str | None = None,
    name: str | None = None,
    resume: bool = False,
    address: str | None = None,
    backend: str | None = None,
    device: str | None = None,
    trial_timeout: float | None = None,
    task_options: dict | None = None,
    progress: Callable[[str], None] | SearchEvents | None = None,
) -> SearchOutcome:
    """Train the ``top`` (default 3) candidates of ``search`` and the references on
    ``seeds`` (default 5) fresh seeds.

    ``first_seed`` defaults to the first seed after the ones the search trained
    with (see :func:`fresh_seeds`).  Task, task options, epochs, precision, device
    and backend are the search's own (``device`` and ``backend`` override the last
    two); the search's per-candidate time limit is scaled to the number of seeds
    unless ``trial_timeout`` is given.  ``task_options`` change the search's task
    options (e.g. ``data_seed`` for a fresh MNIST-1D sample; a changed option trains
    the references again too).  ``resume=True`` continues the confirmation ``name``
    with the seeds, candidates and options it was started with (others are
    refused).  Returns the confirmation's :class:`~actsearch.search.SearchOutcome`.
    """
    if top is not None and top < 1:
        raise ActsearchError(f"--top must be at least 1, not {top}")
    view = StoreView(storage)
    source = view.store.search(search)  # StoreError naming the known searches
    stored = StoredConfig.from_dict(source.config)
    config = stored.config
    if stored.confirms:
        raise ActsearchError(f"{search!r} is itself a confirmation (of {stored.confirms!r}); "
                             "confirm the search it re-trained instead")
    name = name or f"{search}-confirm"
    references = confirm_references(source.config)
    placement = {k: v for k, v in (("workers", workers), ("address", address), ("backend", backend),
                                   ("device", device), ("trial_timeout", trial_timeout)) if v is not None}
    if resume:
        _check_resumable(view, name, search, top, seeds, first_seed)
        kept = StoredConfig.from_dict(view.config(name)).config
        given = {"task_options": {**kept.task_options, **(task_options or {})}}
        return run_search(name=name, storage=storage, resume=True, progress=progress, **given, **placement)
    seeds = CONFIRM_SEEDS if seeds is None else seeds
    fresh = fresh_seeds(config.seed, config.seeds, first_seed, seeds, search)
    entries = {e.id: e for e in view.entries([search])}
    pareto = config.objective == "pareto"
    chosen = pick_top(leaderboard(view.url, search), entries, CONFIRM_TOP if top is None else top, front=pareto)
    if not chosen:
        what = "candidate on its front of score against cost (--objective pareto)" if pareto else \
            "completed candidate"
        raise ActsearchError(f"search {search!r} has no {what} besides the references to confirm")
    if few_seeds_warning(seeds):
        progress = as_events(progress)
        progress.warning(few_seeds_warning(seeds))
    if trial_timeout is None and config.trial_timeout:
        # the search's limit covers all of its seeds: the same work per seed here
        placement["trial_timeout"] = float(config.trial_timeout) * seeds / max(1, int(config.seeds))
    return run_search(**{
        "backend": config.backend, "device": config.device, "precision": config.precision, **placement,
        "task": config.task, "task_options": {**config.task_options, **(task_options or {})},
        "metric": config.metric, "mode": config.mode, "space": config.space, "optimizer": None,
        "candidates": chosen, "references": references, "budget": len(references) + len(chosen), "seeds": seeds,
        "seed": fresh.start, "epochs": config.epochs, "early_stop": False, "storage": storage, "name": name,
        "progress": progress, "notes": {"confirms": search},
        # the task comes from the store: it runs only if it is marked as a task
        "task_source": f"the stored search {search!r}",
    })


def _check_resumable(view, name, search, top, seeds, first_seed) -> None:
    """Refuse resuming ``name`` as a confirmation of ``search`` with other seeds or candidates."""
    if name not in view.names():
        raise ActsearchError(f"cannot resume confirmation {name!r}: it is not in {masked(view.url)}")
    prior = StoredConfig.from_dict(view.config(name))
    if prior.confirms != search:
        raise ActsearchError(f"{name!r} is not a confirmation of search {search!r}")
    for option, given, started in (("--top", top, len(prior.config.candidates)),
                                   ("--seeds", seeds, prior.config.seeds),
                                   ("--first-seed", first_seed, prior.config.seed)):
        if given is not None and given != started:
            raise ActsearchError(f"cannot resume {name!r} with {option} {given}: it was started with {started}")
