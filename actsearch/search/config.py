"""What a search is asked to do: :class:`SearchConfig`, and how a resume merges it.

A config holds its arguments as given (``auto`` stays ``auto``); :meth:`check`
refuses impossible values in one line each.  The store keeps :meth:`stored`, and a
resumed search is rebuilt from that record with :func:`resume_config`: only the
options that say where and how long it runs may change (see :data:`MAY_CHANGE`),
and every other difference is refused in one message.

Example:
    >>> cfg = SearchConfig(task="digits", budget=6, epochs=2)
    >>> cfg.check()
    >>> stored = cfg.stored(task_spec="digits", epochs=2, metric="val_accuracy")
    >>> again = resume_config(stored, {"budget": 10, "workers": 1})
    >>> again.budget, again.workers, again.resume
    (10, 1, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from actsearch.devices import check_device_name, check_precision
from actsearch.errors import ActsearchError
from actsearch.registry import REFERENCES

from .ray.options import check_callbacks, check_loggers

__all__ = ["SearchConfig", "REFERENCES", "MAY_CHANGE", "resume_config", "from_stored", "CONFIRM_TOP",
           "CONFIRM_SEEDS"]

#: a confirmation's defaults (actsearch confirm, search --confirm K): how many winners, how many fresh seeds
CONFIRM_TOP = 3
CONFIRM_SEEDS = 5


#: options a resumed search may take from the new command line: where and how long
#: it runs, not what it measures (``budget`` may only grow)
MAY_CHANGE = frozenset({"budget", "workers", "trial_timeout", "max_failures", "address", "device", "backend",
                        "cpus_per_trial", "gpus_per_trial", "working_dir", "py_modules", "loggers", "storage",
                        "name", "resume", "results_dir", "callbacks"})

#: options that may change but are not command-line options worth listing
_NOT_SHOWN = frozenset({"storage", "name", "resume", "results_dir", "callbacks"})

#: fields of the config the store keeps under other names, or not at all
_NOT_STORED = frozenset({"storage", "name", "resume", "address", "workers", "max_failures", "results_dir", "notes",
                         "working_dir", "py_modules", "loggers", "callbacks"})


@dataclass
class SearchConfig:
    """Everything a search needs, as the user gave it.

    Args:
        task: built-in task name or ``package.module:function``.
        space: search space name, or a ``SearchSpace`` instance (Python API).
        optimizer: optimiser name; ``None`` trains only ``references`` and ``candidates``.
        budget: candidates to train, references included.
        seeds: training seeds per candidate, from ``seed``.
        seed: the optimiser's seed and the first training seed.
        epochs: epochs per seed (``None``: the task's default).
        candidates: the user's own formulas (or ``Candidate`` objects), trained first.
        references: preset names trained before anything else.
        task_options, space_options, optimizer_options: ``KEY=VALUE`` options.
        early_stop: let ASHA stop poor candidates early.
        backend: ``auto``, ``triton``, ``inductor`` or ``eager``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32`` or ``bf16``.
        workers: parallel trials (``None``: as many as the cluster's resources allow).
        cpus_per_trial, gpus_per_trial: Ray resources of one trial; ``gpus_per_trial``
            may be a fraction (trials share a GPU); ``None``: 0.25 on CUDA, 0 on a CPU.
        address: a Ray cluster to join: ``host:port`` of its head (the normal form), or
            ``auto`` (one started on this machine with ``ray start``).  Ray Client
            addresses (``ray://``) are refused.
        working_dir: a folder shipped to every node of the cluster (Ray's ``runtime_env``);
            ``None``: the current folder when the task is a user's ``module:function``.
        py_modules: local packages or modules shipped to every node.
        loggers: per-trial experiment loggers: ``csv``, ``json``, ``tensorboard`` (files
            under ``results_dir``; off unless asked: they cost time).
        callbacks: Ray Tune ``Callback`` objects (e.g. W&B's or MLflow's), Python API
            only; never stored.
        storage: results store URL (``None``: ``sqlite:///results/actsearch.db``).
        name: the search's name (``None``: ``TASK-SPACE-OPTIMIZER-N``).
        resume: continue the search ``name``.
        max_failures: retries of a trial whose worker process died.
        trial_timeout: seconds one candidate may take over all its seeds.
        results_dir: where Ray Tune writes (``None``: beside the SQLite store).
        notes: extra keys for the stored configuration (e.g. ``confirms``).
    """

    task: str = "mnist1d-mlp"
    space: Any = "grammar"
    optimizer: str | None = "random"
    budget: int = 12
    seeds: int = 1
    seed: int = 0
    epochs: int | None = None
    candidates: list = field(default_factory=list)
    references: tuple[str, ...] = REFERENCES
    task_options: dict[str, Any] = field(default_factory=dict)
    space_options: dict[str, Any] = field(default_factory=dict)
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    early_stop: bool = True
    backend: str = "auto"
    device: str = "auto"
    precision: str = "fp32"
    workers: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None
    address: str | None = None
    working_dir: str | None = None
    py_modules: list[str] = field(default_factory=list)
    loggers: list[str] = field(default_factory=list)
    callbacks: list = field(default_factory=list)
    storage: str | None = None
    name: str | None = None
    resume: bool = False
    max_failures: int = 2
    trial_timeout: float | None = None
    results_dir: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise :class:`~actsearch.ActsearchError` for the first impossible value."""
        from actsearch.compile import BACKENDS  # torch and the compiler: only when a config is checked

        if self.budget <= 0:
            raise ActsearchError(f"budget must be a positive number of candidates, not {self.budget}")
        if self.workers is not None and self.workers <= 0:
            raise ActsearchError(f"workers must be at least 1, not {self.workers}")
        if self.seeds <= 0:
            raise ActsearchError(f"seeds must be at least 1, not {self.seeds}")
        if self.epochs is not None and self.epochs <= 0:
            raise ActsearchError(f"epochs must be at least 1, not {self.epochs}")
        if self.trial_timeout is not None and not self.trial_timeout > 0:
            raise ActsearchError(f"trial timeout must be a positive number of seconds, not {self.trial_timeout}")
        if self.max_failures < 0:
            raise ActsearchError(f"max_failures must be 0 or more, not {self.max_failures}")
        if not self.cpus_per_trial > 0:
            raise ActsearchError(f"cpus per trial must be above 0, not {self.cpus_per_trial}")
        if self.gpus_per_trial is not None and not (0 <= self.gpus_per_trial and
                                                    (self.gpus_per_trial <= 1 or self.gpus_per_trial % 1 == 0)):
            raise ActsearchError(f"gpus per trial must be a fraction up to 1 or a whole number, "
                                 f"not {self.gpus_per_trial}")
        if self.backend not in BACKENDS:
            raise ActsearchError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        check_device_name(self.device)
        check_precision(self.precision)
        check_loggers(self.loggers)
        check_callbacks(self.callbacks)

    def stored(self, *, task_spec: str, epochs: int, metric: str) -> dict[str, Any]:
        """The record the store keeps (``task_spec``, ``epochs`` and ``metric`` are
        the task's, resolved): enough to resume the search and to read its results."""
        space = self.space if isinstance(self.space, str) or self.space is None else self.space.name
        return {
            "task": task_spec, "task_name": self.task, "task_options": dict(self.task_options),
            "space": space, "space_options": dict(self.space_options), "optimizer": self.optimizer,
            "optimizer_options": dict(self.optimizer_options), "epochs": epochs, "seeds": self.seeds,
            "budget": self.budget, "seed": self.seed, "early_stop": self.early_stop, "backend": self.backend,
            "device": self.device, "precision": self.precision, "cpus_per_trial": self.cpus_per_trial,
            "gpus_per_trial": self.gpus_per_trial, "metric": metric, "references": list(self.references),
            "candidates": [c if isinstance(c, str) else c.text for c in self.candidates],
            "trial_timeout": self.trial_timeout, **self.notes,
        }


def from_stored(stored: dict[str, Any]) -> SearchConfig:
    """The config a search was started with, from its stored record."""
    known = {f.name for f in fields(SearchConfig)} - _NOT_STORED
    values = {k: stored[k] for k in known if k in stored}
    values["task"] = stored.get("task_name", stored.get("task"))
    if "references" in values:
        values["references"] = tuple(values["references"])
    values["notes"] = {k: v for k, v in stored.items()
                       if k not in known and k not in ("task_name", "metric", "created")}
    return SearchConfig(**values)


def _same(key: str, old: Any, new: Any) -> bool:
    if key == "candidates":
        return [c if isinstance(c, str) else c.text for c in new] == list(old)
    if key == "space" and not isinstance(new, str) and new is not None:
        return getattr(new, "name", None) == old
    if key == "references":
        return tuple(new) == tuple(old)
    if key in ("task_options", "space_options", "optimizer_options"):
        return {k: str(v) for k, v in (new or {}).items()} == {k: str(v) for k, v in (old or {}).items()}
    return new == old


def resume_config(stored: dict[str, Any], given: dict[str, Any]) -> SearchConfig:
    """The config of a resumed search: the stored one, with the ``given`` options
    that may change (:data:`MAY_CHANGE`) applied.

    Raises:
        ActsearchError: listing every given option that differs from the stored
            search and may not change, and a budget lower than the stored one.
    """
    base = from_stored(stored)
    conflicts, changes = [], {}
    for key, value in given.items():
        if key not in {f.name for f in fields(SearchConfig)}:
            raise ActsearchError(f"unknown search option {key!r}")
        old = getattr(base, key)
        if key in MAY_CHANGE:
            if key == "budget" and value < old:
                conflicts.append(f"budget {value} (it was started with {old}; a budget may only grow)")
                continue
            changes[key] = value
        elif key == "space" and not isinstance(value, str) and _same(key, old, value):
            changes[key] = value  # the same space, passed as an instance (Python API)
        elif not _same(key, old, value):
            shown = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            conflicts.append(f"{key} {shown!r} (it was started with {old!r})")
    if conflicts:
        raise ActsearchError(f"cannot resume search {given.get('name') or base.name!r} with other settings: "
                             + "; ".join(conflicts) + ". Options that may change on a resume: "
                             + ", ".join(sorted(MAY_CHANGE - _NOT_SHOWN)))
    return replace(base, **{**changes, "resume": True})
