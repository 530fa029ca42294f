"""Ranked tables of what a search found, read from the results store.

:func:`leaderboard` ranks the scored candidates; :func:`failures` lists the ones
that diverged, produced NaN, crashed or timed out, with their reasons.  Both return
pandas DataFrames; :func:`render` prints them as a text table, CSV, JSON or Markdown.

Ranking (:func:`rank_order`, the one place the rule lives): candidates that trained
to the end (``ok``) and converged come first, by mean score over seeds (higher is
better; lower for a search of ``--mode min``), ties broken by the smaller spread, then by trial order; then those that did
not converge (their final training loss far above the references',
:func:`actsearch.scoring.converged`), whatever their score; then candidates stopped
early by the scheduler (``pruned``, scored at a lower budget).  ``section`` says which
of these a row is in, with rows copied from an earlier search (``copied_from``) in a
section of their own among the converged ones.  ``gain`` is the score minus the best of the search's
references (the presets its stored configuration names, relu, gelu and silu unless it
was started with others; recognised by their outputs) evaluated on the same task,
``NaN`` when no reference was scored or the candidate was stopped early.
Where that reference was trained on the same seeds (every search trains all its
candidates on the same seeds, and seed *i* fixes initialisation and data order),
``wins`` counts the seeds on which the candidate beat it and ``p`` is the one-sided
paired t-test p-value that the candidate's mean is higher (two seeds at least; see
:mod:`actsearch.search.confirm` for re-training the winners on fresh seeds);
``p_holm`` is ``p`` corrected over the searched candidates of the table (Holm).  The
rows of a confirmation link back to the search they were picked from
(``search_id``, ``search_score``).

Stability and the paired test are in :mod:`actsearch.results.statistics`; the printed
forms in :mod:`actsearch.results.tables`.

Example:
    >>> import os, tempfile
    >>> from actsearch.store import Store
    >>> from actsearch.result import Result
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite")
    >>> s = Store(url).open_search("demo", {"task": "digits", "epochs": 1, "seeds": 1})
    >>> s.record(Result(key="a", text="relu(x)", score=0.90, task="digits"))
    >>> s.record(Result(key="b", text="x*tanh(softplus(x))", score=0.93, task="digits"))
    >>> df = leaderboard(storage=url)
    >>> df[["rank", "formula", "gain"]].round(3).values.tolist()
    [[1, 'x*tanh(softplus(x))', 0.03], [2, 'relu(x)', 0.0]]
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd

from ..errors import ActsearchError
from ..registry import REFERENCES, preset, search_references
from ..scoring import converged, final_loss, higher_is_better
from ..store.view import Entry, StoreView
from ..symbolic.cost import formula_cost
from ..symbolic.expr import parse
from .front import front_mask
from .statistics import Tail, holm, paired_p, stability, tail_stats
from .tables import FORMATS, render

__all__ = ["leaderboard", "failures", "render", "rank_order", "front_order", "check_reference", "COLUMNS", "SECTIONS", "FORMATS",
           "REFERENCES"]

COLUMNS = [
    "rank", "id", "formula", "family", "score", "spread", "seeds", "score_text", "gain",
    "gain_vs", "wins", "p", "p_holm", "tail_std", "stability", "converged", "final_loss", "baseline", "params",
    "cost", "kernel_ms", "status", "section", "front", "copied_from", "search_id", "search_score", "task", "metric", "search", "key",
]
#: the sections of a leaderboard, in rank order (:func:`rank_order`)
SECTIONS = ("ranked", "copied", "not converged", "stopped early")
FAILURE_COLUMNS = ["id", "formula", "family", "status", "reason", "task", "search", "key"]

_SCORED = ("ok", "pruned")


@functools.lru_cache(maxsize=64)
def _reference_fingerprints(names: tuple[str, ...]) -> tuple[dict[str, str], frozenset[str]]:
    """(fingerprint -> name of the references known here, names of the others): a
    preset only the searching process knew (registered there) is told by its rows' name."""
    known, unknown = {}, set()
    for name in names:
        try:
            known.setdefault(preset(name).fingerprint(), name)
        except ActsearchError:
            unknown.add(name)
    return known, frozenset(unknown)


def _baseline(entry: Entry, fp: str | None) -> str | None:
    """The reference of its own search's configuration that ``entry`` is, or ``None``."""
    known, unknown = _reference_fingerprints(search_references(entry.config))
    if fp in known:
        return known[fp]
    return entry.result.name if entry.result.name in unknown else None


def _entries(storage: str | None, search: str | None, all_searches: bool, task: str | None):
    if search and all_searches:
        raise ActsearchError("pass either --name or --all, not both")
    view = StoreView(storage)
    if all_searches:
        # candidates reused from an earlier search are copies: list each only where trained
        entries = [e for e in view.entries() if not e.result.reused_from]
    else:
        entries = view.entries([search or view.latest()])
    if task is not None:
        entries = [e for e in entries if e.task == task]
    return entries, view


def _params_and_cost(text: str) -> tuple[int | None, float]:
    """A stored formula's parameter count and :func:`~actsearch.symbolic.cost.formula_cost`,
    from one parse (blank and NaN where it no longer parses: a text from a newer grammar)."""
    try:
        candidate = parse(text)
    except ActsearchError:
        return None, math.nan
    return len(candidate.params), float(formula_cost(candidate.expr))


def _kernel_ms(entry: Entry) -> float:
    value = entry.result.kernel_ms
    return float(value) if isinstance(value, (int, float)) else math.nan


def _fingerprint(text: str) -> str | None:
    try:
        return parse(text).fingerprint()
    except ActsearchError:
        return None


def _toward_better(entry: Entry, value: float) -> float:
    """The ranking's one compare rule: ``value`` of ``entry``'s search as higher-is-better
    (negated for a search of ``--mode min``; :func:`~actsearch.scoring.higher_is_better`).
    Ranks, gains, wins and p are computed on these and the scores shown as measured."""
    return higher_is_better(value, entry.config.get("mode"))


def _ranked_frame(entries: list[Entry], against: str | None = None, view: StoreView | None = None) -> pd.DataFrame:
    rows = []
    for e in entries:
        r = e.result
        if r.status not in _SCORED or r.score is None or not math.isfinite(r.score):
            continue
        fp = r.fingerprint or _fingerprint(r.text)
        params, cost = _params_and_cost(r.text)
        rows.append({
            "id": e.id, "formula": r.text, "family": r.family, "score": _toward_better(e, float(r.score)),
            "spread": float(r.spread), "seeds": len(r.seed_scores) or 1,
            "params": params, "cost": cost, "kernel_ms": _kernel_ms(e), "status": r.status,
            "task": e.task, "metric": r.metric, "search": e.search, "key": r.key,
            "baseline": _baseline(e, fp) if r.status == "ok" else None, "_order": len(rows),
            "_seed_scores": [_toward_better(e, float(v)) for v in r.seed_scores], "_entry": e,
            "_first_seed": (e.config.get("seed", 0) if r.first_seed is None else r.first_seed),
            "_epochs": r.epochs or e.config.get("epochs"), "_tail": tail_stats(r.curves),
            "final_loss": final_loss(r.loss_curves), "copied_from": r.reused_from or None,
            "_fingerprint": fp, "_confirms": e.config.get("confirms"),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    # best reference per task (or the one named by ``against``): gain is measured against it
    best_ref = {}
    refs_rows = df[df["baseline"].notna()] if against is None else df[df["baseline"] == against]
    for task, group in refs_rows.groupby("task"):
        top = group.sort_values(["score", "spread"], ascending=[False, True]).iloc[0]
        best_ref[task] = (top["baseline"], top["score"])
    df["gain_vs"] = df["task"].map(lambda t: best_ref.get(t, (None, None))[0])
    # a pruned score is from a lower budget: no gain against a reference trained to the end
    df["gain"] = df.apply(lambda row: row["score"] - best_ref[row["task"]][1]
                          if row["task"] in best_ref and row["status"] == "ok" else math.nan, axis=1)
    df["wins"], df["p"] = _paired_against_reference(df)
    df["p_holm"] = _holm_column(df)
    df["tail_std"] = [t.std for t in df["_tail"]]
    df["converged"] = pd.Series(_converged_column(df), index=df.index, dtype=object)
    df["stability"] = _stability_column(df)
    df["search_id"], df["search_score"] = _linked_back(df, view)
    df["front"] = _front_column(df)
    df = rank_order(df)
    df.insert(0, "rank", range(1, len(df) + 1))
    df["score"] = [_toward_better(e, v) for e, v in zip(df["_entry"], df["score"])]  # as measured again
    df["section"] = [_section(row) for _, row in df.iterrows()]
    df["score_text"] = [f"{s:.4f} ± {d:.4f}" if n >= 2 else f"{s:.4f}"
                        for s, d, n in zip(df["score"], df["spread"], df["seeds"])]
    return df[COLUMNS].reset_index(drop=True)


def _front_column(df: pd.DataFrame) -> list[bool]:
    """Whether each row is on the Pareto front of score (higher-is-better here) against
    cost among the rows of its task that trained to the end and did not fail to
    converge (:mod:`actsearch.results.front`); False for the others."""
    out = pd.Series(False, index=df.index)
    eligible = df[(df["status"] == "ok") & ~df["converged"].map(_not_converged) & df["cost"].notna()]
    for _, group in eligible.groupby("task"):
        out[group.index] = front_mask(group["score"].tolist(), group["cost"].tolist())
    return out.tolist()


def front_order(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a leaderboard on the front, per task cheapest first, ranks kept
    (rows of one cost on the front have one score too: they keep their rank order)."""
    on = df[df["front"].astype(bool)]
    return on.sort_values(["task", "cost", "rank"], kind="stable").reset_index(drop=True)


def rank_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` sorted by the leaderboard's rule (module docstring): completed and
    converged rows, then completed rows that did not converge, then rows stopped
    early; within each, the higher score first, then the smaller spread, then trial
    order.  The one place the order is decided (``confirm`` takes its top from it)."""
    tier = [2 if status != "ok" else 1 if _not_converged(conv) else 0
            for status, conv in zip(df["status"], df["converged"])]
    return (df.assign(_tier=tier)
            .sort_values(["_tier", "score", "spread", "_order"], ascending=[True, False, True, True])
            .drop(columns="_tier"))


def _not_converged(value) -> bool:
    """``converged`` is False (not None, not unknown), whatever pandas made of the bool."""
    return isinstance(value, (bool, np.bool_)) and not value


def _section(row) -> str:
    """Which of :data:`SECTIONS` a ranked row is shown in."""
    if row["status"] != "ok":
        return "stopped early"
    if _not_converged(row["converged"]):
        return "not converged"
    return "copied" if isinstance(row["copied_from"], str) else "ranked"


def _converged_column(df: pd.DataFrame) -> list[bool | None]:
    """:func:`actsearch.scoring.converged` of each row that trained to the end, against
    the final training losses of the references trained on the same task and epochs
    (None for runs stopped early, and where a loss is missing)."""
    refs: dict[tuple, list[float]] = {}
    for _, row in df[df["baseline"].notna() & (df["status"] == "ok")].iterrows():
        refs.setdefault((row["task"], row["_epochs"]), []).append(row["final_loss"])
    return [converged(row["final_loss"], refs.get((row["task"], row["_epochs"]), ())) if row["status"] == "ok"
            else None for _, row in df.iterrows()]


def _stability_column(df: pd.DataFrame) -> list[str | None]:
    """:func:`stability` of each row that trained to the end, against the references
    trained on the same task and epochs (a pruned run's last epochs are early ones);
    ``not converged`` where :func:`_converged_column` says so."""
    refs: dict[tuple, list[Tail]] = {}
    for _, row in df[df["baseline"].notna()].iterrows():
        refs.setdefault((row["task"], row["_epochs"]), []).append(row["_tail"])
    out = []
    for _, row in df.iterrows():
        if row["status"] != "ok":
            out.append(None)
        elif _not_converged(row["converged"]):
            out.append("not converged")
        else:
            out.append(stability(row["_tail"], refs.get((row["task"], row["_epochs"]), ())))
    return out


def _holm_column(df: pd.DataFrame) -> list[float]:
    """``p`` corrected by Holm's method over the searched rows of each task (the
    comparisons this table makes at once); NaN where there is no ``p``."""
    out = pd.Series(math.nan, index=df.index)
    for _, group in df[df["baseline"].isna()].groupby("task"):
        out[group.index] = holm(group["p"].tolist())
    return out.tolist()


def _linked_back(df: pd.DataFrame, view: StoreView | None) -> tuple[list, list]:
    """For the rows of a confirmation (references included): the id and score of the
    same function in the search it confirms (the best completed run there); None/NaN
    elsewhere."""
    sources: dict[str, dict[str, Entry]] = {}
    ids, scores = [], []
    for _, row in df.iterrows():
        source = row["_confirms"]
        found = None
        if isinstance(source, str) and view is not None:
            if source not in sources:
                sources[source] = _best_by_fingerprint(view, source)
            found = sources[source].get(row["_fingerprint"])
        ids.append(found.id if found else None)
        scores.append(float(found.result.score) if found else math.nan)
    return ids, scores


def _best_by_fingerprint(view: StoreView, search: str) -> dict[str, Entry]:
    """fingerprint -> the best completed run of search ``search`` (empty when it is gone)."""
    if search not in view.names():
        return {}
    best: dict[str, Entry] = {}
    for e in view.entries([search]):
        r = e.result
        if r.status != "ok" or r.score is None or not math.isfinite(r.score):
            continue
        fp = r.fingerprint or _fingerprint(r.text)
        if fp and (fp not in best or r.score > best[fp].result.score):
            best[fp] = e
    return best


def _paired_against_reference(df: pd.DataFrame) -> tuple[list, list]:
    """``wins`` ("k/n") and one-sided paired p-values against the row's ``gain_vs``
    reference trained on the same task, epochs and seeds; None/NaN where there is none."""
    def signature(row):
        return row["task"], row["_epochs"], row["_first_seed"], len(row["_seed_scores"])

    refs = {}
    for _, row in df[df["baseline"].notna()].iterrows():
        if row["baseline"] == row["gain_vs"] and row["status"] == "ok":  # its best run per training setup
            sig = signature(row)
            if sig not in refs or row["score"] > refs[sig]["score"]:
                refs[sig] = row
    wins, pvals = [], []
    for _, row in df.iterrows():
        ref = refs.get(signature(row))
        mine = row["_seed_scores"]
        if ref is None or row["status"] != "ok" or len(mine) < 2 or row["baseline"] == row["gain_vs"]:
            wins.append(None)
            pvals.append(math.nan)
            continue
        theirs = ref["_seed_scores"]
        wins.append(f"{sum(a > b for a, b in zip(mine, theirs))}/{len(mine)}")
        pvals.append(paired_p(mine, theirs))
    return wins, pvals


def check_reference(name: str | None, references=REFERENCES) -> None:
    """:class:`ActsearchError` unless ``name`` is None or one of ``references`` (the
    references of the searches shown)."""
    if name is not None and name not in references:
        choices = ", ".join(references) or "none (the search trained no reference)"
        raise ActsearchError(f"--against {name!r} is not a reference of this search; choose one of: {choices}")


def leaderboard(
    storage: str | None = None,
    search: str | None = None,
    *,
    all: bool = False,  # noqa: A002 - mirrors --all
    task: str | None = None,
    top: int | None = None,
    against: str | None = None,
    front: bool = False,
) -> pd.DataFrame:
    """Ranked scored candidates of one search (default: the latest) or of ``all``.

    ``front=True``: only the Pareto front of score against ``cost`` (per task, among
    the rows that trained to the end and converged), cheapest first, ranks kept; an
    :class:`~actsearch.errors.ActsearchError` when no row is on it.

    ``gain``, ``wins`` and ``p`` compare with the best reference of each task, or
    with the reference named by ``against`` (one the searches shown were started
    with: ``relu``, ``gelu`` or ``silu`` unless they were given others).

    Columns: :data:`COLUMNS`.
    ``id`` (``SEARCH:NUMBER``) is what ``actsearch show`` and ``export`` accept;
    ``formula`` is canonical text (``actsearch.parse`` reads it); ``gain_vs`` names
    the reference the gain is measured against; ``wins`` and ``p`` compare seed by
    seed with it; ``tail_std`` and ``stability`` (``stable``, ``unstable``, ``not
    converged``; None for runs stopped early or shorter than three epochs) say how much
    its last epochs move (module docstring); ``converged`` (True, False, None when
    unknown) compares ``final_loss``, its final training loss, with the references'
    (:func:`actsearch.scoring.converged`); ``section`` is one of :data:`SECTIONS`;
    ``copied_from`` names the search a copied row was trained in; ``p_holm``,
    ``search_id`` and ``search_score``: module docstring; ``baseline`` names the reference a row is
    (``None`` for searched candidates); ``params`` counts learnable
    parameters per activation; ``kernel_ms`` is the fused kernel's forward+backward
    time when the search recorded it, else ``NaN``.

    Raises :class:`~actsearch.StoreError` when the store is missing or foreign.
    """
    if top is not None and top < 1:
        raise ActsearchError(f"--top must be at least 1, got {top}")
    entries, view = _entries(storage, search, all, task)
    # the references of the searches shown, each as it was started
    shown = tuple(dict.fromkeys(n for e in entries for n in search_references(e.config))) if entries else REFERENCES
    check_reference(against, shown)
    df = _ranked_frame(entries, against, view)
    if front:
        df = front_order(df)
        if df.empty:
            shown_name = "the searches shown" if all else f"search {search or view.latest()!r}"
            raise ActsearchError(f"--front: no candidate of {shown_name} trained to the end and converged, "
                                 "so there is no front of score against cost yet")
    return df.head(top).reset_index(drop=True) if top is not None else df


def failures(
    storage: str | None = None,
    search: str | None = None,
    *,
    all: bool = False,  # noqa: A002
    task: str | None = None,
) -> pd.DataFrame:
    """Candidates without a score (diverged, nan, error, timeout) and why."""
    rows = []
    for e in _entries(storage, search, all, task)[0]:
        r = e.result
        if r.status in _SCORED and r.score is not None and math.isfinite(r.score):
            continue
        rows.append({"id": e.id, "formula": r.text, "family": r.family, "status": r.status,
                     "reason": (r.message or r.status).splitlines()[0] if (r.message or r.status) else "",
                     "task": e.task, "search": e.search, "key": r.key})
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)
