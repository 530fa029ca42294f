"""Searches: configure, run on Ray, confirm on fresh seeds.

- :mod:`~actsearch.search.config`: :class:`SearchConfig`, what a search is asked to do,
  and how a resume merges new options into the stored configuration.
- :mod:`~actsearch.search.driver`: the bookkeeping (queue, de-duplication, budget,
  recording), free of Ray.
- :mod:`~actsearch.search.trial`: what runs a trial (needs neither Ray nor Optuna):
  the typed messages that cross the trial boundary (:class:`TrialSpec`,
  :class:`TrialProgress`, ``TrialEnded``), ``evaluate`` and the supervisor's child process.
- :mod:`~actsearch.search.ray`: the cluster, trial placement, Tune and ASHA: the only
  code that imports Ray.
- :mod:`~actsearch.search.run`: :func:`run_search`, which joins them.
- :mod:`~actsearch.search.confirm`: re-training the winners on fresh seeds.

Example::

    from actsearch.search import SearchConfig, run_search
    outcome = run_search(SearchConfig(task="digits", budget=6, epochs=2, workers=2))
"""

from actsearch._exports import lazy_exports

__all__ = ["run_search", "SearchConfig", "SearchOutcome", "TrialSpec", "TrialProgress", "REFERENCES"]

__getattr__, __dir__ = lazy_exports(__name__, {
    ".config": ("REFERENCES", "SearchConfig"),
    ".driver": ("SearchOutcome",),
    ".run": ("run_search",),
    ".trial.messages": ("TrialProgress", "TrialSpec"),
})
