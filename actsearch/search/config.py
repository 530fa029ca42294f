"""What a search is asked to do: :class:`SearchConfig`, what the store keeps of it
(:class:`StoredConfig`), and how a resume or a replay merges new options into that.

Each field of :class:`SearchConfig` is one option, declared once with
:func:`~actsearch.search.option.option`: the ``actsearch search`` flags, the
settings-file keys (:mod:`~actsearch.search.config_file`), the values it takes, what
a resume may change (:data:`MAY_CHANGE`) and what the store keeps all come from
these declarations.  A config holds its arguments as given (``auto`` stays
``auto``); :meth:`SearchConfig.check` refuses a bad value in one line.  A resumed
search is rebuilt from its stored record with :func:`resume_config`: only the
options that say where and how long it runs may change, and every other difference
is refused in one message.

Example:
    >>> cfg = SearchConfig(task="digits", budget=6, epochs=2)
    >>> cfg.check()
    >>> stored = cfg.stored(task_spec="digits", epochs=2, metric="val_accuracy")
    >>> again = resume_config(stored, {"budget": 10, "workers": 1})
    >>> again.budget, again.workers, again.resume
    (10, 1, True)
    >>> StoredConfig.from_dict(stored).config.metric
    'val_accuracy'
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from actsearch.devices import PRECISIONS, check_device_name, check_precision
from actsearch.errors import ActsearchError
from actsearch.optimizers.registry import OBJECTIVES, set_by_the_search
from actsearch.registry import REFERENCES, did_you_mean, unknown_name

from .option import (Formulas, Kind, Number, Objects, SpaceName, Switch, Table, Text, Texts, Whole,
                     check_search_name, option, options_of)
from .ray.options import check_callbacks, check_loggers
from .time_limit import FACTOR, FLOOR

__all__ = ["SearchConfig", "StoredConfig", "REFERENCES", "MAY_CHANGE", "MODES", "resume_config", "replay_config",
           "from_stored", "CONFIRM_TOP", "CONFIRM_SEEDS"]

#: a confirmation's defaults (actsearch confirm, search --confirm K): how many winners, how many fresh seeds
CONFIRM_TOP = 3
CONFIRM_SEEDS = 5

#: --mode: which way a metric is better
MODES = ("max", "min")


def _check_backend(name: str) -> None:
    from actsearch.compile import BACKENDS  # torch and the compiler: only when a backend is checked

    if name not in BACKENDS:
        raise unknown_name("backend", name, BACKENDS, ActsearchError)


def _table(flag: str, help: str):  # noqa: A002 - argparse's word
    """A table of ``KEY=VALUE`` options: ``[name]`` in a file, a repeated ``flag`` here."""
    return option(kind=Table(), factory=dict, flags=(flag,), form="pairs", metavar="KEY=VALUE", help=help)


def _whole_or_fraction(gpus: float) -> bool:
    return gpus <= 1 or gpus % 1 == 0


@dataclass
class SearchConfig:
    """Everything a search needs, as the user gave it: one field per option, each
    declared once (see the module docstring; ``help`` says what each one is).

    The Python API also takes objects where the command line takes names: a
    ``SearchSpace`` for ``space``, ``Candidate`` objects among ``candidates``, and Ray
    Tune ``Callback`` objects (``callbacks``, never stored).
    """

    task: str = option(
        "mnist1d-mlp", Text(), "built-in task ({tasks}), package.module:function, or path/to/file.py:function "
        "(default: {default})", always_in_file=True)
    task_options: dict[str, Any] = _table("--task-option", "task option, e.g. path=corpus.txt for charlm (repeatable)")
    metric: str | None = option(
        None, Text(), "the score: a metric the task reports (a key of its report() or return value; default: "
        "the task's own, e.g. val_accuracy)", metavar="NAME")
    mode: str | None = option(
        None, Text(choices=MODES), "whether a higher (max) or lower (min) --metric is better (default: the "
        "task's, max for the built-in tasks)", metavar="{max,min}")
    space: Any = option("grammar", SpaceName(), "search space: {spaces} (default: {default}; see actsearch spaces)",
                        always_in_file=True, nullable=True)
    space_options: dict[str, Any] = _table("--space-option", "search space option, e.g. version=B or degrees=5,4 for rational (repeatable)")
    optimizer: str | None = option(
        "random", Text(), "optimiser: {optimizers} (default: {default}; see actsearch optimizers)",
        always_in_file=True, nullable=True)
    optimizer_options: dict[str, Any] = _table("--optimizer-option", "optimiser option, e.g. model=gp for surrogate (repeatable; see actsearch optimizers)")
    objective: str = option(
        "score", Text(choices=OBJECTIVES), "what the optimiser seeks: score (the best by score; default) or "
        "pareto (the front of score against cost, the formula's weighted operation count: surrogate and evolution "
        "rank by a random weighing of the two at each ask, random needs nothing, optuna refuses); a pareto "
        "search prints its front", metavar="{" + ",".join(OBJECTIVES) + "}")
    warm_start: str | None = option(
        None, Text(), "start the surrogate optimiser from the scores of another search in the store or of a "
        "benchmark table (CSV)", metavar="SEARCH_OR_TABLE")
    replay: str | None = option(
        None, Text(), "train exactly the candidates of the stored search NAME, in its order, and nothing else "
        "(its settings, unless given here)", metavar="NAME")
    budget: int = option(12, Whole(low=1, rule="a positive number of candidates"),
                         "candidates to train, references included (default: {default})", may_change=True,
                         always_in_file=True)
    workers: int | None = option(
        None, Whole(low=1), "parallel trials (default: as many as the cluster's CPUs/GPUs allow per trial; a "
        "resumed search keeps its own)", may_change=True)
    seeds: int = option(1, Whole(low=1), "training seeds per candidate (default: {default})", always_in_file=True)
    epochs: int | None = option(None, Whole(low=1), "training epochs per seed (default: the task's)",
                                always_in_file=True)
    candidates: list = option(kind=Formulas(), factory=list, form="words", metavar="FORMULA|PRESET",
                              help="your own formulas or presets (e.g. polynorm; `actsearch spaces` lists them), "
                                   "scored right after the references")
    references: tuple[str, ...] = option(REFERENCES, Texts(as_tuple=True), flags=())
    seed: int = option(0, Whole(low=0), "optimiser and first training seed (default: {default})",
                       always_in_file=True)
    early_stop: bool = option(True, Switch(), "train every candidate to the end (no ASHA)",
                              flags=("--no-early-stop",), form="off")
    backend: str = option("auto", Text(rule=_check_backend), "compile backend: auto (triton on CUDA, eager on a "
                          "CPU), triton, inductor, eager", may_change=True)
    device: str = option("auto", Text(rule=check_device_name), "where trials train: auto (cuda when the cluster "
                         "has GPUs), cpu, cuda or cuda:N (default: auto)", metavar="DEVICE", may_change=True)
    precision: str = option("fp32", Text(rule=check_precision), "fp32, or bf16 (autocast; the kernels take bf16 in "
                            "and compute in fp32) (default: fp32)", metavar="{" + ",".join(PRECISIONS) + "}")
    gpus_per_trial: float | None = option(
        None, Number(low=0, extra=_whole_or_fraction, rule="a fraction up to 1 or a whole number"),
        "GPUs each trial reserves; a fraction lets several trials share one GPU (default: {gpu_share} on CUDA, "
        "0 on a CPU)", metavar="G", may_change=True, label="gpus per trial")
    cpus_per_trial: float = option(1.0, Number(above=0), "CPUs each trial reserves, and its torch threads "
                                   "(default: 1)", metavar="C", may_change=True, label="cpus per trial")
    trial_timeout: float | None = option(
        None, Number(above=0, rule="a positive number of seconds"), "per-candidate time limit; a slower "
        f"candidate is recorded as 'timeout' (default: {FACTOR:g} x the slowest reference's time, at least "
        f"{FLOOR:g} s)", metavar="SECONDS", may_change=True,
        label="trial timeout")
    max_failures: int = option(2, Whole(low=0), "retries of a trial whose worker process died (default: 2)",
                               may_change=True, stored=False)
    address: str | None = option(
        None, Text(), "join a Ray cluster (host:port of its head, or auto) instead of a private local one",
        may_change=True, stored=False)
    working_dir: str | None = option(
        None, Text(), "folder shipped to every node of a cluster (default: the current folder for a --task "
        "module:function)", metavar="DIR", may_change=True, stored=False)
    py_modules: list[str] = option(
        kind=Texts(), factory=list, flags=("--py-module",), form="repeat", metavar="PATH", may_change=True,
        stored=False, help="local package or module shipped to every node (repeatable)")
    loggers: list[str] = option(
        kind=Texts(), factory=list, flags=("--logger",), form="repeat",
        metavar="NAME", may_change=True, stored=False,
        help="per-trial experiment logger: csv, json or tensorboard (repeatable)")
    callbacks: list = option(kind=Objects(), factory=list, flags=(), may_change=True, listed=False, stored=False,
                             in_files=False)
    storage: str | None = option(None, Text(), "results database URL (default: {default_url})",
                                 may_change=True, listed=False, stored=False)
    name: str | None = option(None, Text(rule=check_search_name), "search name (default: TASK-SPACE-OPTIMIZER-N)",
                              may_change=True, listed=False, stored=False)
    resume: bool = option(False, Switch(), "continue the search --name", form="on", may_change=True, listed=False,
                          stored=False, in_files=False)
    results_dir: str | None = option(None, Text(), flags=(), may_change=True, listed=False, stored=False)
    #: extra keys of the stored record (e.g. ``confirms``: the search a confirmation re-trains)
    notes: dict[str, Any] = option(kind=Kind(), factory=dict, flags=(), stored=False, in_files=False)
    #: where the task was named, when not by whoever runs this search (the command line,
    #: the Python code): a settings file or a stored search.  A ``module:function`` task
    #: from there runs only when it is marked as a task (see :mod:`actsearch.tasks.user`).
    task_source: str = option("", Text(), flags=(), may_change=True, listed=False, stored=False, in_files=False)

    def check(self) -> None:
        """Raise :class:`~actsearch.ActsearchError` for the first bad value: each option's
        own kind and range, then the rules that join two options."""
        for name, declared in options_of(type(self)).items():
            declared.check(getattr(self, name))
        check_loggers(self.loggers)
        check_callbacks(self.callbacks)
        taken = next((k for k in self.optimizer_options if set_by_the_search(k)), None)
        if taken:
            raise ActsearchError(f"--optimizer-option {taken}=...: the optimiser's {taken} is set with "
                                 f"{set_by_the_search(taken)}")
        if self.warm_start and self.optimizer != "surrogate":
            raise ActsearchError(f"--warm-start {self.warm_start} needs --optimizer surrogate (this search's "
                                 f"optimiser is {self.optimizer or 'none'})")
        if self.replay and (self.optimizer is not None or self.candidates):
            raise ActsearchError(f"--replay {self.replay} trains that search's candidates and nothing else: it "
                                 "takes no --optimizer, --candidates or --warm-start")

    def stored(self, *, task_spec: str, epochs: int, metric: str, mode: str = "max") -> dict[str, Any]:
        """The record the store keeps (``task_spec``, ``epochs``, ``metric`` and ``mode``
        are the task's, resolved): enough to resume the search and to read its results."""
        resolved = replace(self, epochs=epochs, metric=metric, mode=mode)
        return StoredConfig(resolved, task_spec=task_spec).to_dict()


#: options a resumed search may take from the new command line: where and how long
#: it runs, not what it measures (``budget`` may only grow)
MAY_CHANGE = frozenset(n for n, d in options_of(SearchConfig).items() if d.option.may_change)


@dataclass(frozen=True)
class StoredConfig:
    """What the store keeps of a search, typed: the options it was started with
    (:attr:`config`, with the epochs, metric and mode resolved then), the task with
    its options as results are matched on (:attr:`task_spec`) and when it was made.

    In the store it is a JSON object (:meth:`to_dict`): ``task`` is the task spec,
    ``task_name`` the task as given, every stored option under its own name, the
    notes (``confirms``) beside them, and ``created``.
    """

    config: SearchConfig
    task_spec: str = ""
    created: str = ""

    @property
    def confirms(self) -> str | None:
        """The search whose winners this one re-trained, if it is a confirmation."""
        return self.config.notes.get("confirms") or None

    @property
    def mode(self) -> str:
        return self.config.mode or "max"

    def to_dict(self) -> dict[str, Any]:
        config = self.config
        out: dict[str, Any] = {"task": self.task_spec or config.task, "task_name": config.task}
        for name, declared in options_of(type(config)).items():
            if declared.option.stored and name != "task":
                out[name] = declared.option.kind.to_stored(getattr(config, name))
        out.update(config.notes)
        if self.created:
            out["created"] = self.created
        return out

    @classmethod
    def from_dict(cls, stored: dict[str, Any], config_class: type = SearchConfig) -> "StoredConfig":
        """The typed record of a stored one (keys missing in older records: the defaults)."""
        declared = options_of(config_class)
        kept = {n for n, d in declared.items() if d.option.stored}
        values = {k: stored[k] for k in kept if k in stored}
        values["task"] = stored.get("task_name", stored.get("task", declared["task"].default))
        if "references" in values and isinstance(values["references"], list):
            values["references"] = tuple(values["references"])
        values["notes"] = {k: v for k, v in stored.items() if k not in kept and k not in ("task_name", "created")}
        return cls(config_class(**values), task_spec=str(stored.get("task", "")), created=str(stored.get("created", "")))


def from_stored(stored: dict[str, Any], config_class: type = SearchConfig) -> SearchConfig:
    """The config a search was started with, from its stored record."""
    return StoredConfig.from_dict(stored, config_class).config


def _given(config_class: type, given: dict[str, Any]) -> dict:
    declared = options_of(config_class)
    for key in given:
        if key not in declared:
            raise ActsearchError(f"unknown search option {key!r}{did_you_mean(key, declared)}")
    return declared


def _trusted_source(given: dict[str, Any], where: str) -> str:
    """``task_source`` of a config rebuilt from a stored search: the stored search's,
    unless this run named the task itself (the same one)."""
    if "task" in given and not given.get("task_source"):
        return ""
    return given.get("task_source") or where


def resume_config(stored: dict[str, Any], given: dict[str, Any], config_class: type = SearchConfig) -> SearchConfig:
    """The config of a resumed search: the stored one, with the ``given`` options
    that may change (:data:`MAY_CHANGE`) applied.

    Raises:
        ActsearchError: listing every given option that differs from the stored
            search and may not change, and a budget lower than the stored one.
    """
    declared = _given(config_class, given)
    base = from_stored(stored, config_class)
    name = given.get("name") or base.name
    conflicts, changes = [], {}
    for key, value in given.items():
        d = declared[key]
        old = getattr(base, key)
        if key == "task_source":
            continue
        if d.option.may_change:
            if key == "budget" and isinstance(value, int) and isinstance(old, int) and value < old:
                conflicts.append(f"budget {value} (it was started with {old}; a budget may only grow)")
                continue
            changes[key] = value
        elif key == "space" and not isinstance(value, str) and d.option.kind.same(old, value):
            changes[key] = value  # the same space, passed as an instance (Python API)
        elif not d.option.kind.same(old, value):
            shown = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            conflicts.append(f"{key} {shown!r} (it was started with {old!r})")
    if conflicts:
        listed = sorted(n for n, d in declared.items() if d.option.may_change and d.option.listed)
        raise ActsearchError(f"cannot resume search {name!r} with other settings: " + "; ".join(conflicts)
                             + ". Options that may change on a resume: " + ", ".join(listed))
    changes["task_source"] = _trusted_source(given, f"the stored search {name!r}")
    return replace(base, **{**changes, "resume": True})


def replay_config(stored: dict[str, Any], source: str, given: dict[str, Any],
                  config_class: type = SearchConfig) -> SearchConfig:
    """The config of ``search --replay SOURCE``: what the stored search ``source``
    (``stored``, its record) measured (task, epochs, seeds, metric, ...), with the
    ``given`` options over them; no optimiser and no candidates of its own (the
    source's candidates are its queue)."""
    _given(config_class, given)
    base = from_stored(stored, config_class)
    # where and how long this run runs is this run's (what a resume could change), not the source's
    placement = {n: d.default for n, d in options_of(config_class).items()
                 if not d.option.stored or d.option.may_change}
    values = {**placement, "notes": {}, "optimizer": None, "optimizer_options": {}, "candidates": [],
              "references": (), "warm_start": None, **given, "replay": source}
    config = replace(base, **values)
    return replace(config, task_source=_trusted_source(given, f"the stored search {source!r}"))
