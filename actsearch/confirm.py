"""Re-train a search's best candidates and the references on fresh seeds.

A search keeps the candidates that scored best on the seeds it trained with, so the
winners' scores are biased upwards (the winner's curse: with hundreds of candidates,
some beat ReLU by luck alone).  :func:`confirm` takes the ``top`` completed
candidates of a finished search and trains them, together with the reference
activations (relu, gelu, silu), on ``seeds`` seeds the search never used, each one
to the end (no early stopping).  Seed *i* gives every candidate the same
initialisation stream and data order, so candidate and reference are compared seed
by seed: the leaderboard of the confirmation shows on how many seeds a candidate
beat the best reference (``wins``) and the one-sided paired t-test p-value
(``p``).

The confirmation is an ordinary search in the same store, named ``NAME-confirm``
by default, whose configuration records the search it confirms (``confirms``), so
``actsearch leaderboard``, ``show``, ``report`` and ``export`` work on it as on any
other search, and ``resume=True`` continues an interrupted one.

Example (Python API; ``actsearch confirm NAME --top 3 --seeds 5`` is the same)::

    from actsearch.confirm import confirm
    from actsearch.leaderboard import leaderboard
    outcome = confirm("mnist1d-mlp-grammar-surrogate-1", top=3, seeds=5)
    print(leaderboard(search=outcome.name)[["formula", "score", "gain", "wins", "p"]])
"""

from __future__ import annotations

from typing import Callable

from .errors import ActsearchError
from .expr import Candidate, parse
from .registry import preset
from .runner import REFERENCES, SearchOutcome, run_search
from ._store_view import StoreView

__all__ = ["confirm", "pick_top"]


def pick_top(results, top: int, references=REFERENCES) -> list[Candidate]:
    """The ``top`` best completed candidates (distinct functions, references left out)."""
    skip = {preset(r).fingerprint() for r in references}
    chosen: list[Candidate] = []
    for r in sorted((r for r in results if r.status == "ok" and r.score is not None), key=lambda r: -r.score):
        cand = parse(r.text, family=r.family, name=r.extra.get("name") or None)
        fp = cand.fingerprint()
        if fp in skip:
            continue
        skip.add(fp)
        chosen.append(cand)
        if len(chosen) == top:
            break
    return chosen


def confirm(
    search: str,
    *,
    top: int = 3,
    seeds: int = 5,
    first_seed: int | None = None,
    workers: int = 2,
    storage: str | None = None,
    name: str | None = None,
    resume: bool = False,
    address: str | None = None,
    backend: str | None = None,
    trial_timeout: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> SearchOutcome:
    """Train the ``top`` candidates of ``search`` and the references on fresh seeds.

    ``first_seed`` defaults to the first seed after the ones the search trained
    with; seeds that overlap them are refused, since a confirmation on the seeds
    that picked the winners confirms nothing.  Task, task options, epochs and
    backend are the search's own (``backend`` overrides the last).  Returns the
    confirmation's :class:`~actsearch.runner.SearchOutcome`.
    """
    if top < 1:
        raise ActsearchError(f"--top must be at least 1, not {top}")
    if seeds < 2:
        raise ActsearchError(f"a confirmation needs at least 2 seeds to compare, not {seeds}")
    stored = StoreView(storage).store.search(search)  # StoreError: no store, or naming the known searches
    config = stored.config
    if config.get("confirms"):
        raise ActsearchError(f"{search!r} is itself a confirmation (of {config['confirms']!r}); "
                             "confirm the search it re-trained instead")
    used = range(int(config.get("seed", 0)), int(config.get("seed", 0)) + int(config.get("seeds", 1)))
    first_seed = used.stop if first_seed is None else int(first_seed)
    fresh = range(first_seed, first_seed + seeds)
    overlap = sorted(set(used) & set(fresh))
    if overlap:
        raise ActsearchError(f"seeds {fresh.start}..{fresh.stop - 1} overlap the seeds search {search!r} "
                             f"trained with ({used.start}..{used.stop - 1}); pick --first-seed {used.stop} "
                             "or higher")
    references = tuple(config.get("references") or REFERENCES)
    chosen = pick_top(stored.results(), top, references)
    if not chosen:
        raise ActsearchError(f"search {search!r} has no completed candidate besides the references to confirm")
    return run_search(
        task=config["task_name"], task_options=config.get("task_options") or {},
        space=config.get("space"), optimizer=None, candidates=chosen, references=references,
        budget=len(references) + len(chosen), workers=workers, seeds=seeds, seed=first_seed,
        epochs=config.get("epochs"), early_stop=False, storage=storage, name=name or f"{search}-confirm",
        resume=resume, address=address, backend=backend or config.get("backend", "auto"),
        trial_timeout=trial_timeout if trial_timeout is not None else config.get("trial_timeout"),
        progress=progress, notes={"confirms": search},
    )
