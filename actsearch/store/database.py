"""The results database: one Optuna study per search in an RDB storage.

Default URL ``sqlite:///results/actsearch.db`` (the folder is created); any
SQLAlchemy URL works (``postgresql://...`` with ``pip install 'actsearch[postgres]'``).
Only the search's driver writes, and only while it holds the search's lease
(:meth:`Store.lease`).  ``optuna-dashboard <url>`` can open it.

Schema ``actsearch/1``
----------------------
Study (one per search, ``study_name`` = search name, direction maximize; metric
name set from the task), user attrs:

================  ==============================================================
``schema``        ``"actsearch/1"``, written last when a search is created: a study
                  without it is not an actsearch search (or one half-created by a
                  driver that was killed; creating the name again replaces it)
``config``        dict: the search's stored options, read and written as
                  :class:`actsearch.search.config.StoredConfig` (``task``: the
                  task spec, ``task_name``, one key per stored option, the notes
                  such as ``confirms``, ``created``: ISO time)
``optimizer``     the optimiser's ``state_dict()`` (JSON), saved after every record
``state``         ``"running"``, ``"finished"`` or ``"interrupted"``
================  ==============================================================

Trial (one per candidate handed to a worker in this search, numbered in that
order).  ``RUNNING`` from the moment the driver hands the candidate out until its
result is recorded; then ``COMPLETE`` (status ok, value = score), ``PRUNED``
(stopped early by ASHA, value = last reported score) or ``FAIL`` (diverged / nan /
error / timeout, no value).  A trial its driver never recorded (killed, Ctrl-C) is ``FAIL`` with the
user attr ``interrupted``: it is no result, and ``--resume`` trains it first.
Params (for the dashboard's plots): ``family`` and each learnable parameter's
initial value (see :mod:`actsearch.store.trials`).  User attrs: every field of
:class:`~actsearch.result.Result` but ``trial``:

==================  ============================================================
``text``            canonical text (``actsearch.parse(text)`` rebuilds it)
``family``          search space family; ``name`` the preset name or ``""``
``key``             stable hash of the canonical text
``fingerprint``     hash of outputs on probe points (de-duplication)
``protected``       (set when started) never stopped early: a reference or the user's
``task``            task spec, ``epochs`` (budget), ``seeds`` (number of seeds),
                    ``first_seed`` (absent on older records: the search's seed),
                    ``precision`` (``fp32``/``bf16``; absent on older records: fp32)
``metric``          metric name (higher is better); ``score``, ``spread`` (std over
                    seeds), ``seed_scores`` list
``status``          ok / pruned / diverged / nan / error / timeout; ``message``
``curves``          per seed, metric per epoch
``learned_params``  per activation layer ``{param: value}`` after training (first seed)
``device``          where it trained, e.g. ``cpu fp32``, ``cuda:0 (NVIDIA H200) bf16``;
                    ``backend`` the compile backend that trained it
``wall_time``       seconds for the whole trial; ``train_time`` seconds training
``kernel_ms``       median ms of one forward + backward of the compiled activation
                    on the trial's device (null when not measured)
``reused_from``     for a candidate found in an earlier search with the same
                    task/epochs/seeds/precision: that search's name (not trained again)
==================  ============================================================

Intermediate values hold the mean curve (epoch -> metric).

SQLite stores are opened in WAL mode with a 30 s busy timeout, so several
searches (processes) can write to one file at once; readers
(``Store(url, readonly=True)``, every view) open the file read-only.  A failing
store (full disk, damaged file, lost server) is a one-line :class:`StoreError`
naming the cause; a lost database server is retried for 30 s first.

Example:
    >>> import tempfile, os
    >>> from actsearch.store import Store
    >>> from actsearch.result import Result
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite")
    >>> s = Store(url).open_search("demo", {"task": "digits", "epochs": 1, "seeds": 1})
    >>> s.record(Result(key="k", text="relu(x)", score=0.9, fingerprint="f"))
    >>> [r.score for r in Store(url).results("demo")]
    [0.9]
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable

from ..dedup import Training, better_copy, copyable
from ..errors import StoreError
from ..result import Result
from .errors import retrying
from .lease import Lease, abandoned, holder, lease_seconds
from .opening import open_storage
from .stored_search import StoredSearch
from .trials import is_recorded, to_result
from .url import masked

__all__ = ["Store", "DEFAULT_URL", "SCHEMA"]

DEFAULT_URL = "sqlite:///results/actsearch.db"
SCHEMA = "actsearch/1"


class Store:
    """An actsearch results database at ``url`` (default :data:`DEFAULT_URL`);
    ``readonly`` opens it without ever writing (SQLite: read-only, never created)."""

    def __init__(self, url: str | None = None, readonly: bool = False):
        self.url = url or DEFAULT_URL
        self.readonly = readonly
        self.storage = open_storage(self.url, readonly=readonly)
        #: the first write that failed for good; later writes are then best effort
        self.failed: StoreError | None = None

    def __repr__(self) -> str:
        return f"Store({masked(self.url)!r})"

    # -- calling the storage (StoredSearch calls these too) -------------------------------
    def read(self, doing: str, fn: Callable, *args):
        """``fn(*args)`` against the storage, retried while a database server is away;
        a failure is a one-line :class:`StoreError` saying what was being ``doing``."""
        # once a write failed for good, the rest is best effort: no more waiting on the server
        return retrying(self.url, doing, lambda: fn(*args), retry_for=0.0 if self.failed else None)

    def write(self, doing: str, fn: Callable, *args):
        """:meth:`read` for a write; the first one that fails for good is kept in :attr:`failed`."""
        try:
            return self.read(doing, fn, *args)
        except StoreError as exc:
            self.failed = self.failed or exc
            raise

    # -- searches -------------------------------------------------------------
    def _study_id(self, name: str) -> int | None:
        def find():
            try:
                return self.storage.get_study_id_from_name(name)
            except KeyError:
                return None

        return self.read(f"looking up search {name!r}", find)

    def study_attrs(self, study_id: int) -> dict[str, Any]:
        """The user attributes of study ``study_id`` (the search's schema tag, config and state)."""
        return self.read("reading a search", self.storage.get_study_user_attrs, study_id)

    def study_trials(self, study_id: int) -> list:
        """The Optuna trials of study ``study_id`` (not copied: read, do not change them)."""
        return self.read("reading trials", lambda: self.storage.get_all_trials(study_id, deepcopy=False))

    def _check_schema(self, study_id: int, name: str) -> dict[str, Any]:
        attrs = self.study_attrs(study_id)
        if attrs.get("schema") != SCHEMA:
            if self._incomplete(study_id, attrs):
                raise StoreError(
                    f"search {name!r} already exists in {masked(self.url)} but is not complete: another search is "
                    f"creating it right now, or one stopped while creating it (`actsearch search --name {name}` "
                    f"then replaces it, `actsearch delete {name}` removes it); pass another --name, or --resume "
                    "once it is complete")
            raise StoreError(
                f"study {name!r} in {masked(self.url)} is not an actsearch search (schema {attrs.get('schema')!r})"
            )
        return attrs

    def _incomplete(self, study_id: int, attrs: dict[str, Any]) -> bool:
        """A study as an actsearch creation leaves it before its last write: maximised,
        no schema tag (written last), only actsearch's attributes, no trials."""
        from optuna.study import StudyDirection

        return ("schema" not in attrs and set(attrs) <= {"config", "state"}
                and self.read("reading a search", self.storage.get_study_directions, study_id)
                == [StudyDirection.MAXIMIZE] and not self.study_trials(study_id))

    def _half_created(self, study_id: int, lease: Lease) -> bool:
        """An incomplete study whose creator is gone, so that ``lease``'s holder may
        replace it: its config was written (only actsearch writes one), or the lease
        was taken over from a driver that died holding it (killed before even that)."""
        attrs = self.study_attrs(study_id)
        return self._incomplete(study_id, attrs) and ("config" in attrs or lease.took_over)

    def searches(self) -> list[dict[str, Any]]:
        """``[{name, config, state, n_trials}]`` for every actsearch search, oldest first
        (``n_trials``: recorded candidates)."""
        out = []
        for study in self.read("listing searches", self.storage.get_all_studies):
            if study.user_attrs.get("schema") != SCHEMA:
                continue
            n = sum(1 for t in self.study_trials(study._study_id) if is_recorded(t))
            out.append({"name": study.study_name, "config": study.user_attrs.get("config", {}),
                        "state": study.user_attrs.get("state", ""), "n_trials": n})
        return out

    def lease(self, name: str, *, new: bool = False) -> Lease:
        """Take search ``name``'s lease (one driver per search; see :mod:`actsearch.store.lease`):
        a :class:`StoreError` naming the holder when another driver has it.  With
        ``new`` (a search about to be created), also refused when a search ``name``
        exists already: before any work is done, not after Ray started."""
        if self.readonly:
            raise StoreError(f"results store {masked(self.url)} is open read-only: it cannot run a search")
        # _read, not _write: a refusal is an answer, not a failing store
        lease = self.read(f"taking the lease of search {name!r}", lambda: Lease(self.storage.engine, name).acquire())
        try:
            study_id = self._study_id(name) if new else None
            if study_id is not None and not self._half_created(study_id, lease):
                self._check_schema(study_id, name)
                raise StoreError(self._exists(name))
        except BaseException:
            lease.release()
            raise
        return lease

    def _exists(self, name: str) -> str:
        return f"search {name!r} already exists in {masked(self.url)}; pass --resume or another --name"

    def open_search(self, name: str, config: dict[str, Any], resume: bool = False,
                    lease: Lease | None = None) -> "StoredSearch":
        """Create the search ``name`` with ``config``; with ``resume`` reopen an existing one.

        Creating a name that exists without ``resume`` is a :class:`StoreError`, as is
        resuming one that does not exist or has another task/space/optimiser.  With
        ``lease`` (the driver's, from :meth:`lease`) a half-created study of that name
        is replaced, and on a resume the trials a killed driver left running are
        marked interrupted.
        """
        study_id = self._study_id(name)
        if study_id is not None and lease is not None and self._half_created(study_id, lease):
            # a creation killed half-way; holding the lease, nobody else is creating it now
            self.write(f"replacing half-created search {name!r}", self.storage.delete_study, study_id)
            study_id = None
        if study_id is not None:
            attrs = self._check_schema(study_id, name)
            if not resume:
                raise StoreError(self._exists(name))
            old = attrs.get("config", {})
            for field in ("task", "space", "optimizer", "epochs", "seeds", "seed"):
                if field in config and field in old and config[field] != old[field]:
                    raise StoreError(
                        f"cannot resume search {name!r}: its {field} is {old[field]!r}, not {config[field]!r}"
                    )
            search = StoredSearch(self, name, study_id, lease)
            if lease is not None:
                search.close_running()  # left by a driver that died; their candidates are in flight
            # what a resume may change (a larger budget, another device) is kept for the next one
            self.write("saving the configuration", self.storage.set_study_user_attr, study_id, "config",
                        {**old, **config})
            search.set_state("running")
            return search
        if resume:
            raise StoreError(f"cannot resume search {name!r}: it is not in {masked(self.url)}")
        return self._create(name, config, lease)

    def _create(self, name: str, config: dict[str, Any], lease: Lease | None) -> "StoredSearch":
        import optuna
        from optuna.study import StudyDirection

        def create():
            try:
                return self.storage.create_new_study([StudyDirection.MAXIMIZE], study_name=name)
            except optuna.exceptions.DuplicatedStudyError:  # another process created it just now
                raise StoreError(f"search {name!r} already exists in {masked(self.url)} (created by another "
                                 "search just now); pass --resume or another --name") from None

        study_id = self.write(f"creating search {name!r}", create)
        full = dict(config)
        full.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        try:
            self.write("saving the configuration", self.storage.set_study_user_attr, study_id, "config", full)
            self.write("saving the state", self.storage.set_study_user_attr, study_id, "state", "running")
            if config.get("metric"):
                self.write("naming the metric", self._name_metric, name, str(config["metric"]))
            # last: a study with its schema tag is a complete search
            self.write("saving the schema tag", self.storage.set_study_user_attr, study_id, "schema", SCHEMA)
        except BaseException:  # Ctrl-C or a failing store half-way: leave no half-created study
            try:
                self.storage.delete_study(study_id)
            except Exception:  # noqa: BLE001 - then the next creation under a lease replaces it
                pass
            raise
        return StoredSearch(self, name, study_id, lease)

    def _name_metric(self, name: str, metric: str) -> None:
        import warnings

        import optuna

        with warnings.catch_warnings():  # experimental since Optuna 3.2, and what the dashboard reads
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.load_study(study_name=name, storage=self.storage).set_metric_names([metric])

    def search(self, name: str) -> "StoredSearch":
        """An existing search (:class:`StoreError` when missing)."""
        study_id = self._study_id(name)
        if study_id is None:
            raise self._missing(name)
        self._check_schema(study_id, name)
        return StoredSearch(self, name, study_id)

    def _missing(self, name: str) -> StoreError:
        known = ", ".join(s["name"] for s in self.searches()) or "none"
        return StoreError(f"no search named {name!r} in {masked(self.url)} (searches: {known})")

    def delete(self, name: str, confirmations: bool = False) -> list[str]:
        """Remove search ``name`` (a half-created one too) and, with ``confirmations``,
        the searches that confirm it; returns the names removed.  Refused while a
        driver holds the lease of any of them (nothing is removed then), and for
        studies actsearch did not write."""
        import contextlib

        with contextlib.ExitStack() as held:
            lease = held.enter_context(self.lease(name))  # none can start while we delete
            study_id = self._study_id(name)
            if study_id is None:
                raise self._missing(name)
            if not self._half_created(study_id, lease):
                self._check_schema(study_id, name)  # never remove a study another tool wrote
            others = self.confirmations(name) if confirmations else []
            for other in others:
                held.enter_context(self.lease(other))
            for each in [name] + others:
                found = self._study_id(each)
                if found is not None:
                    self.write(f"deleting search {each!r}", self.storage.delete_study, found)
        return [name] + others

    def confirmations(self, name: str) -> list[str]:
        """The searches that re-trained ``name``'s winners on fresh seeds."""
        return [s["name"] for s in self.searches() if s["config"].get("confirms") == name]

    def holder(self, name: str) -> dict | None:
        """Who runs search ``name`` now (``{host, pid, since, age}``), or ``None`` (nobody,
        or a driver whose lease expired, or a process of this machine that has ended)."""
        row = self.read("reading leases", holder, self.storage.engine, name)
        if row is None or float(row["age"]) > lease_seconds() or abandoned(row):
            return None
        return row

    def results(self, name: str) -> list[Result]:
        """Every candidate recorded in search ``name``, in the order handed out."""
        return self.search(name).results()

    def evaluated(self, task: str, epochs: int, seeds: int, first_seed: int = 0,
                  precision: str = "fp32") -> dict[str, Result]:
        """fingerprint -> result for candidates trained (not reused) on this task, epochs,
        precision and training seeds ``first_seed .. first_seed + seeds - 1``, across
        every search in the store: what :mod:`actsearch.dedup`'s rule may copy (scores on
        other seeds are never reused: a confirmation on fresh seeds must train again;
        errors and timeouts are left out; of several runs, the best copy is kept)."""
        wanted = Training(task, epochs, seeds, first_seed, precision)
        found: dict[str, Result] = {}
        for study in self.read("listing searches", self.storage.get_all_studies):
            if study.user_attrs.get("schema") != SCHEMA:
                continue
            # records written before first_seed was stored trained from the search's --seed
            study_seed = (study.user_attrs.get("config") or {}).get("seed", 0)
            for trial in self.study_trials(study._study_id):
                a = trial.user_attrs
                if (is_recorded(trial) and not a.get("reused_from") and a.get("fingerprint")
                        and copyable(a.get("status")) and Training.of(a, study_seed) == wanted):
                    fp = a["fingerprint"]
                    if fp in found and not better_copy(a["status"], found[fp].status):
                        continue
                    result = to_result(trial)
                    result.reused_from = study.study_name
                    if result.first_seed is None:
                        result.first_seed = study_seed
                    found[fp] = result
        return found

    def dataframe(self, name: str):
        """A pandas DataFrame, one row per candidate (curves and params left out)."""
        import pandas as pd

        rows = []
        for r in self.results(name):
            rows.append({"text": r.text, "family": r.family, "status": r.status, "score": r.score,
                         "spread": r.spread, "metric": r.metric, "seeds": len(r.seed_scores),
                         "wall_time": r.wall_time, "key": r.key, "message": r.message,
                         "reused_from": r.reused_from})
        return pd.DataFrame(rows)
