"""Ranked tables of what a search found, read from the results store.

:func:`leaderboard` ranks the scored candidates; :func:`failures` lists the ones
that diverged, produced NaN, crashed or timed out, with their reasons.  Both return
pandas DataFrames; :func:`render` prints them as a text table, CSV, JSON or Markdown.

Ranking: candidates that trained to the end (``ok``) come first, by mean score over
seeds (higher is better), ties broken by the smaller spread, then by trial order;
candidates stopped early by the scheduler (``pruned``, scored at a lower budget)
follow, ranked the same way.  ``gain`` is the score minus the best reference
activation (relu, gelu or silu, recognised by their outputs) evaluated on the same
task, ``NaN`` when no reference was scored or the candidate was stopped early.
Where that reference was trained on the same seeds (every search trains all its
candidates on the same seeds, and seed *i* fixes initialisation and data order),
``wins`` counts the seeds on which the candidate beat it and ``p`` is the one-sided
paired t-test p-value that the candidate's mean is higher (two seeds at least; see
:mod:`actsearch.search.confirm` for re-training the winners on fresh seeds).

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

import json
import math
import pandas as pd

from ._store_view import Entry, StoreView
from .errors import ActsearchError
from .expr import parse
from .registry import REFERENCES

__all__ = ["leaderboard", "failures", "render", "check_reference", "format_p", "FORMATS", "REFERENCES"]

FORMATS = ("table", "csv", "json", "markdown")

COLUMNS = [
    "rank", "id", "formula", "family", "score", "spread", "seeds", "score_text", "gain",
    "gain_vs", "wins", "p", "baseline", "params", "kernel_ms", "status", "task", "metric", "search", "key",
]
FAILURE_COLUMNS = ["id", "formula", "family", "status", "reason", "task", "search", "key"]

_SCORED = ("ok", "pruned")


def _reference_fingerprints() -> dict[str, str]:
    return {parse(f"{n}(x)").fingerprint(): n for n in REFERENCES}


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
    return entries


def _params_of(text: str) -> int | None:
    try:
        return len(parse(text).params)
    except ActsearchError:  # a text from a newer grammar: leave the count blank
        return None


def _kernel_ms(entry: Entry) -> float:
    value = entry.result.kernel_ms
    return float(value) if isinstance(value, (int, float)) else math.nan


def _fingerprint(text: str) -> str | None:
    try:
        return parse(text).fingerprint()
    except ActsearchError:
        return None


def _ranked_frame(entries: list[Entry], against: str | None = None) -> pd.DataFrame:
    refs = _reference_fingerprints()
    rows = []
    for e in entries:
        r = e.result
        if r.status not in _SCORED or r.score is None or not math.isfinite(r.score):
            continue
        fp = r.fingerprint or _fingerprint(r.text)
        rows.append({
            "id": e.id, "formula": r.text, "family": r.family, "score": float(r.score),
            "spread": float(r.spread), "seeds": len(r.seed_scores) or 1,
            "params": _params_of(r.text), "kernel_ms": _kernel_ms(e), "status": r.status,
            "task": e.task, "metric": r.metric, "search": e.search, "key": r.key,
            "baseline": refs.get(fp) if r.status == "ok" else None, "_order": len(rows),
            "_seed_scores": [float(v) for v in r.seed_scores],
            "_first_seed": (e.config.get("seed", 0) if r.first_seed is None else r.first_seed),
            "_epochs": r.epochs or e.config.get("epochs"),
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
    df["_pruned"] = df["status"] != "ok"
    df = df.sort_values(["_pruned", "score", "spread", "_order"], ascending=[True, False, True, True])
    df.insert(0, "rank", range(1, len(df) + 1))
    df["score_text"] = [f"{s:.4f} ± {d:.4f}" for s, d in zip(df["score"], df["spread"])]
    return df[COLUMNS].reset_index(drop=True)


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
        pvals.append(_paired_p(mine, theirs))
    return wins, pvals


def _paired_p(mine: list[float], theirs: list[float]) -> float:
    """P(mean difference > 0 by chance) under a paired t-test.

    Differences that are all the same (accuracies are multiples of 1/N, so this
    happens) leave the t statistic at +-infinity: 0 when the candidate won every
    seed by that margin, 1 when it lost, NaN when the two tie on every seed.
    """
    import warnings

    import numpy as np
    from scipy import stats

    diff = np.asarray(mine, dtype=np.float64) - np.asarray(theirs, dtype=np.float64)
    if np.allclose(diff, diff[0], rtol=0.0, atol=1e-9):
        return 0.0 if diff[0] > 1e-9 else 1.0 if diff[0] < -1e-9 else math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(diff, np.zeros_like(diff), alternative="greater").pvalue)


def format_p(value: float) -> str:
    """A p-value as the tables print it: three decimals, ``<0.001`` below that."""
    return f"{value:.3f}" if value >= 0.001 else "<0.001"


def check_reference(name: str | None) -> None:
    """:class:`ActsearchError` unless ``name`` is None or one of :data:`REFERENCES`."""
    if name is not None and name not in REFERENCES:
        raise ActsearchError(f"--against {name!r} is not a reference; choose one of: {', '.join(REFERENCES)}")


def leaderboard(
    storage: str | None = None,
    search: str | None = None,
    *,
    all: bool = False,  # noqa: A002 - mirrors --all
    task: str | None = None,
    top: int | None = None,
    against: str | None = None,
) -> pd.DataFrame:
    """Ranked scored candidates of one search (default: the latest) or of ``all``.

    ``gain``, ``wins`` and ``p`` compare with the best reference of each task, or
    with the reference named by ``against`` (``relu``, ``gelu`` or ``silu``).

    Columns: ``rank, id, formula, family, score, spread, seeds, score_text, gain,
    gain_vs, wins, p, baseline, params, kernel_ms, status, task, metric, search, key``.
    ``id`` (``SEARCH:NUMBER``) is what ``actsearch show`` and ``export`` accept;
    ``formula`` is canonical text (``actsearch.parse`` reads it); ``gain_vs`` names
    the reference the gain is measured against; ``wins`` and ``p`` compare seed by
    seed with it (module docstring); ``baseline`` names the reference a row is
    (``None`` for searched candidates); ``params`` counts learnable
    parameters per activation; ``kernel_ms`` is the fused kernel's forward+backward
    time when the search recorded it, else ``NaN``.

    Raises :class:`~actsearch.StoreError` when the store is missing or foreign.
    """
    if top is not None and top < 1:
        raise ActsearchError(f"--top must be at least 1, got {top}")
    check_reference(against)
    df = _ranked_frame(_entries(storage, search, all, task), against)
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
    for e in _entries(storage, search, all, task):
        r = e.result
        if r.status in _SCORED and r.score is not None and math.isfinite(r.score):
            continue
        rows.append({"id": e.id, "formula": r.text, "family": r.family, "status": r.status,
                     "reason": (r.message or r.status).splitlines()[0] if (r.message or r.status) else "",
                     "task": e.task, "search": e.search, "key": r.key})
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)


# -- rendering ----------------------------------------------------------------
_TABLE_COLUMNS = ["rank", "id", "formula", "family", "score_text", "gain", "wins", "p", "params", "kernel_ms",
                  "status"]
_TABLE_HEADERS = {"score_text": "score (mean ± std)", "kernel_ms": "kernel ms"}


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _display(df: pd.DataFrame, columns: list[str], width: int = 60) -> tuple[list[str], list[list[str]]]:
    headers = [_TABLE_HEADERS.get(c, c) for c in columns]
    rows = []
    for _, row in df.iterrows():
        cells = []
        for c in columns:
            v = row[c]
            if c == "gain" and isinstance(v, float) and not math.isnan(v):
                text = f"{v:+.4f}"
            elif c == "kernel_ms" and isinstance(v, float) and not math.isnan(v):
                text = f"{v:.3f}"
            elif c == "p" and isinstance(v, float) and not math.isnan(v):
                text = format_p(v)
            else:
                text = _cell(v)
            if c == "formula":
                text = text if len(text) <= width else text[: width - 3] + "..."
                if isinstance(row.get("baseline"), str):
                    text += f"  [{row['baseline']}]"
            cells.append(text)
        rows.append(cells)
    return headers, rows


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def render(ranked: pd.DataFrame, failed: pd.DataFrame | None = None, fmt: str = "table") -> str:
    """``ranked`` (and ``failed``) as text in one of :data:`FORMATS`.

    ``csv`` holds the ranked table only (every column); ``json`` is an object
    ``{"ranked": [...], "failed": [...]}``; ``table`` and ``markdown`` show the main
    columns and list failures below.
    """
    if fmt not in FORMATS:
        raise ActsearchError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    failed = failed if failed is not None else pd.DataFrame(columns=FAILURE_COLUMNS)
    if fmt == "csv":
        return ranked.to_csv(index=False)
    if fmt == "json":
        as_records = lambda df: json.loads(df.to_json(orient="records"))  # noqa: E731 - NaN -> null
        return json.dumps({"ranked": as_records(ranked), "failed": as_records(failed)}, indent=2)
    table = _text_table if fmt == "table" else _markdown_table
    parts = [table(*_display(ranked, _TABLE_COLUMNS)) if len(ranked) else "(no scored candidates)"]
    if len(failed):
        parts.append(f"\nfailed ({len(failed)}):" if fmt == "table" else f"\n**Failed ({len(failed)})**\n")
        parts.append(table(*_display(failed, ["id", "formula", "status", "reason"])))
    return "\n".join(parts) + "\n"
