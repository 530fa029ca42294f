"""The results database: one Optuna study per search in an RDB storage.

Default URL ``sqlite:///results/actsearch.db`` (the folder is created); any
SQLAlchemy URL works (``postgresql://...``).  Only the search driver writes.
``optuna-dashboard <url>`` can open it.

Schema ``actsearch/1``
----------------------
Study (one per search, ``study_name`` = search name, direction maximize), user attrs:

================  ==============================================================
``schema``        ``"actsearch/1"``; a study without it is not an actsearch search
``config``        dict: ``task`` (spec), ``space``, ``space_options``, ``optimizer``,
                  ``optimizer_options``, ``epochs``, ``seeds``, ``budget``,
                  ``seed``, ``early_stop``, ``backend``, ``created`` (ISO time)
``optimizer``     the optimiser's ``state_dict()`` (JSON), saved after every record
``state``         ``"running"``, ``"finished"`` or ``"interrupted"``
``inflight``      candidates handed to workers but not yet recorded:
                  ``[{text, family, name}]``; a search killed hard leaves them here
                  and ``--resume`` trains them first
================  ==============================================================

SQLite stores are opened in WAL mode with a 30 s busy timeout, so several
searches (processes) can write to one file at once.

Trial (one per candidate evaluated in this search, in completion order).  State:
``COMPLETE`` (status ok, value = score), ``PRUNED`` (stopped early by ASHA, value =
last reported score) or ``FAIL`` (diverged / nan / error / timeout, no value).
User attrs: every field of :class:`~actsearch.result.Result` but ``trial``:

==================  ============================================================
``text``            canonical text (``actsearch.parse(text)`` rebuilds it)
``family``          search space family; ``name`` the preset name or ``""``
``key``             stable hash of the canonical text
``fingerprint``     hash of outputs on probe points (de-duplication)
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
import logging
import math
import os
from typing import Any

from actsearch.errors import StoreError
from actsearch.result import Result

__all__ = ["Store", "StoredSearch", "DEFAULT_URL", "SCHEMA"]

DEFAULT_URL = "sqlite:///results/actsearch.db"
SCHEMA = "actsearch/1"

#: Result fields stored as trial user attributes (``trial`` is the trial's own number)
_FIELDS = tuple(f for f in Result.__dataclass_fields__ if f != "trial")
#: written only when given: a record without it trained from its search's --seed
_OPTIONAL_KEYS = {"first_seed"}
#: statuses a later search may copy instead of training, most trusted first
_REUSABLE = {"ok": 0, "nan": 1, "diverged": 1, "pruned": 2}
#: seconds a writer waits for another process's SQLite write lock before giving up
_BUSY_TIMEOUT = 30.0


def _quiet_optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return optuna


def _check_foreign(url: str) -> None:
    """Refuse databases holding tables that are not Optuna's, before Optuna adds its own."""
    import sqlalchemy

    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            folder = os.path.dirname(os.path.abspath(path))
            if os.path.exists(folder) and not os.path.isdir(folder):
                raise StoreError(f"cannot open results store {url!r}: {folder!r} is a file, not a folder")
            if not os.path.isdir(folder):
                # one missing level (results/) is created; a mistyped deep path is an error
                if not os.path.isdir(os.path.dirname(folder)):
                    raise StoreError(f"cannot open results store {url!r}: folder {folder!r} does not exist")
                try:
                    os.mkdir(folder)
                except OSError as exc:
                    raise StoreError(f"cannot open results store {url!r}: {exc.strerror}: {folder!r}") from None
            if os.path.isdir(path):
                raise StoreError(f"cannot open results store {url!r}: {path!r} is a folder")
            if os.path.exists(path) and os.path.getsize(path) == 0:
                return
    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect():
            names = set(sqlalchemy.inspect(engine).get_table_names())
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any driver error means we cannot use it
        raise StoreError(f"cannot open results store {url!r}: {_reason(exc)}") from None
    if names and "studies" not in names:
        raise StoreError(
            f"{url!r} is not an actsearch results store (it holds other tables: {', '.join(sorted(names)[:5])})"
        )


def _reason(exc: BaseException) -> str:
    # SQLAlchemy appends the SQL and a help link on further lines: keep the driver's words
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}" if first else type(inner).__name__


def _use_wal(storage) -> None:
    # WAL lets readers (leaderboard, a resuming search's polling) run beside a writer;
    # the mode is stored in the file, so setting it once per open is enough
    import sqlalchemy

    try:
        with storage.engine.connect() as conn:
            conn.execute(sqlalchemy.text("PRAGMA journal_mode=WAL"))
    except sqlalchemy.exc.OperationalError:  # read-only file or folder: readers still work
        pass


class Store:
    """An actsearch results database at ``url`` (default :data:`DEFAULT_URL`)."""

    def __init__(self, url: str | None = None):
        self.url = url or DEFAULT_URL
        _check_foreign(self.url)
        optuna = _quiet_optuna()
        kwargs = {}
        if self.url.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": _BUSY_TIMEOUT}}
        try:
            self.storage = optuna.storages.RDBStorage(self.url, **kwargs)
            if self.url.startswith("sqlite") and ":memory:" not in self.url:
                _use_wal(self.storage)
        except Exception as exc:  # noqa: BLE001
            raise StoreError(f"cannot open results store {self.url!r}: {_reason(exc)}") from None

    # -- searches -------------------------------------------------------------
    def _study_id(self, name: str) -> int | None:
        import optuna

        try:
            return self.storage.get_study_id_from_name(name)
        except KeyError:
            return None
        except optuna.exceptions.OptunaError:  # pragma: no cover
            return None

    def _check_schema(self, study_id: int, name: str) -> dict[str, Any]:
        attrs = self.storage.get_study_user_attrs(study_id)
        if attrs.get("schema") != SCHEMA:
            raise StoreError(
                f"study {name!r} in {self.url!r} is not an actsearch search (schema {attrs.get('schema')!r})"
            )
        return attrs

    def searches(self) -> list[dict[str, Any]]:
        """``[{name, config, state, n_trials}]`` for every actsearch search, oldest first."""
        out = []
        for study in self.storage.get_all_studies():
            if study.user_attrs.get("schema") != SCHEMA:
                continue
            n = len(self.storage.get_all_trials(study._study_id, deepcopy=False))
            out.append({"name": study.study_name, "config": study.user_attrs.get("config", {}),
                        "state": study.user_attrs.get("state", ""), "n_trials": n})
        return out

    def open_search(self, name: str, config: dict[str, Any], resume: bool = False) -> "StoredSearch":
        """Create the search ``name`` with ``config``; with ``resume`` reopen an existing one.

        Creating a name that exists without ``resume`` is a :class:`StoreError`, as is
        resuming one that does not exist or has another task/space/optimiser.
        """
        from optuna.study import StudyDirection

        study_id = self._study_id(name)
        if study_id is not None:
            attrs = self._check_schema(study_id, name)
            if not resume:
                raise StoreError(f"search {name!r} already exists in {self.url!r}; pass --resume or another --name")
            old = attrs.get("config", {})
            for field in ("task", "space", "optimizer", "epochs", "seeds", "seed"):
                if field in config and field in old and config[field] != old[field]:
                    raise StoreError(
                        f"cannot resume search {name!r}: its {field} is {old[field]!r}, not {config[field]!r}"
                    )
            # what a resume may change (a larger budget, another device) is kept for the next one
            self.storage.set_study_user_attr(study_id, "config", {**old, **config})
            self.storage.set_study_user_attr(study_id, "state", "running")
            return StoredSearch(self, name, study_id)
        if resume:
            raise StoreError(f"cannot resume search {name!r}: it is not in {self.url!r}")
        import optuna

        try:
            study_id = self.storage.create_new_study([StudyDirection.MAXIMIZE], study_name=name)
        except optuna.exceptions.DuplicatedStudyError:  # another process created it just now
            raise StoreError(f"search {name!r} already exists in {self.url!r} (created by another search "
                             "just now); pass --resume or another --name") from None
        full = dict(config)
        full.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        self.storage.set_study_user_attr(study_id, "schema", SCHEMA)
        self.storage.set_study_user_attr(study_id, "config", full)
        self.storage.set_study_user_attr(study_id, "state", "running")
        return StoredSearch(self, name, study_id)

    def search(self, name: str) -> "StoredSearch":
        """An existing search (:class:`StoreError` when missing)."""
        study_id = self._study_id(name)
        if study_id is None:
            known = ", ".join(s["name"] for s in self.searches()) or "none"
            raise StoreError(f"no search named {name!r} in {self.url!r} (searches: {known})")
        self._check_schema(study_id, name)
        return StoredSearch(self, name, study_id)

    def results(self, name: str) -> list[Result]:
        """Every candidate recorded in search ``name``, in the order recorded."""
        return self.search(name).results()

    def evaluated(self, task: str, epochs: int, seeds: int, first_seed: int = 0,
                  precision: str = "fp32") -> dict[str, Result]:
        """fingerprint -> result for candidates trained (not reused) on this task, epochs,
        precision and training seeds ``first_seed .. first_seed + seeds - 1``, across
        every search in the store.  Scores on other seeds are never reused: a confirmation on fresh
        seeds must train again.  Errors and timeouts are left out (a worker that died
        or a time limit says nothing about the function); of several runs, a completed
        one is preferred to a rejected one, and either to one stopped early."""
        found: dict[str, Result] = {}
        for study in self.storage.get_all_studies():
            if study.user_attrs.get("schema") != SCHEMA:
                continue
            # records written before first_seed was stored trained from the search's --seed
            study_seed = (study.user_attrs.get("config") or {}).get("seed", 0)
            for trial in self.storage.get_all_trials(study._study_id, deepcopy=False):
                a = trial.user_attrs
                if (a.get("task") == task and a.get("epochs") == epochs and a.get("seeds") == seeds
                        and a.get("first_seed", study_seed) == first_seed
                        and a.get("precision", "fp32") == precision
                        and not a.get("reused_from") and a.get("fingerprint")
                        and a.get("status") in _REUSABLE):
                    fp = a["fingerprint"]
                    if fp in found and _REUSABLE[found[fp].status] <= _REUSABLE[a["status"]]:
                        continue
                    result = _to_result(trial)
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


class StoredSearch:
    """One search's study: record results, save optimiser state, read back."""

    def __init__(self, store: Store, name: str, study_id: int):
        self.store, self.name, self.study_id = store, name, study_id

    @property
    def _attrs(self) -> dict[str, Any]:
        return self.store.storage.get_study_user_attrs(self.study_id)

    @property
    def config(self) -> dict[str, Any]:
        return self._attrs.get("config", {})

    @property
    def state(self) -> str:
        return self._attrs.get("state", "")

    @property
    def optimizer_state(self) -> dict[str, Any] | None:
        return self._attrs.get("optimizer")

    def set_state(self, state: str) -> None:
        self.store.storage.set_study_user_attr(self.study_id, "state", state)

    @property
    def inflight(self) -> list[dict[str, str]]:
        """Candidates handed to workers and not yet recorded (``[{text, family, name}]``)."""
        return list(self._attrs.get("inflight", []))

    def set_inflight(self, candidates: list[dict[str, str]]) -> None:
        self.store.storage.set_study_user_attr(self.study_id, "inflight", list(candidates))

    def save_optimizer(self, state: dict[str, Any]) -> None:
        self.store.storage.set_study_user_attr(self.study_id, "optimizer", state)

    def record(self, result: Result, optimizer_state: dict[str, Any] | None = None) -> None:
        """Add ``result`` as a trial (and the optimiser's state, when given)."""
        import optuna
        from optuna.trial import TrialState

        attrs = {}
        for k in _FIELDS:
            value = getattr(result, k)
            if k in _OPTIONAL_KEYS and value is None:
                continue
            attrs[k] = value
        scored = result.score is not None and math.isfinite(result.score)
        if result.status == "ok" and scored:
            state, value = TrialState.COMPLETE, float(result.score)
        elif result.status == "pruned" and scored:
            state, value = TrialState.PRUNED, float(result.score)
        else:
            state, value = TrialState.FAIL, None
        curves = [c for c in result.curves if c]
        inter = {}
        if curves:
            for i in range(min(len(c) for c in curves)):
                v = sum(c[i] for c in curves) / len(curves)
                if math.isfinite(v):
                    inter[i + 1] = v
        trial = optuna.trial.create_trial(state=state, value=value, user_attrs=attrs,
                                          intermediate_values=inter)
        optuna.load_study(study_name=self.name, storage=self.store.storage).add_trial(trial)
        if optimizer_state is not None:
            self.save_optimizer(optimizer_state)

    def results(self) -> list[Result]:
        trials = self.store.storage.get_all_trials(self.study_id, deepcopy=False)
        return [_to_result(t) for t in sorted(trials, key=lambda t: t.number)]


def _to_result(trial) -> Result:
    a = trial.user_attrs
    result = Result.from_dict({k: a[k] for k in _FIELDS if k in a} | {"key": a.get("key", ""),
                                                                     "text": a.get("text", "")})
    result.status = a.get("status", "error")
    result.spread = float(result.spread or 0.0)
    result.wall_time = float(result.wall_time or 0.0)
    result.trial = trial.number
    return result
