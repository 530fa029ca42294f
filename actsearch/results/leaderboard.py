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

Stability (:func:`tail_stats`, :func:`stability`): ``tail_std`` is the standard
deviation of the metric over the last :data:`TAIL_EPOCHS` epochs of each seed's
curve, averaged over seeds.  A candidate that trained to the end is flagged
``unstable`` when its values swing around their trend over those epochs more than
twice as much as the most any reference of the same task and epochs does (and by
more than 0.01), and ``not converged`` when that trend still moves more than twice
as far as the references' does (and more than 0.01), or when its training loss at
the end is more than twice the largest of the references' (and above 0.05): a
function the network cannot fit its training data with; otherwise it is ``stable``.
A gain is worth little when the metric it rests on swings by more than the gain.

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
from dataclasses import dataclass

import pandas as pd

from ..store.view import Entry, StoreView
from ..errors import ActsearchError
from ..symbolic.expr import parse
from ..registry import REFERENCES

__all__ = [
    "leaderboard", "failures", "render", "check_reference", "format_p", "short_forms", "tail_stats", "stability",
    "Tail", "FORMATS", "REFERENCES", "TAIL_EPOCHS",
]

FORMATS = ("table", "csv", "json", "markdown")

COLUMNS = [
    "rank", "id", "formula", "family", "score", "spread", "seeds", "score_text", "gain",
    "gain_vs", "wins", "p", "tail_std", "stability", "baseline", "params", "kernel_ms", "status", "task", "metric",
    "search", "key",
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


# -- stability of the last epochs ------------------------------------------------
#: epochs at the end of each seed's curve that the stability measures read
TAIL_EPOCHS = 5
#: a candidate is flagged when it moves more than this many times the most any
#: reference (relu, gelu, silu on the same task and epochs) moves ...
STABILITY_RATIO = 2.0
#: ... and more than this, in the metric's units (1 point of accuracy): references
#: that barely move must not turn ordinary noise into a flag
STABILITY_FLOOR = 0.01
#: ... and, for the final training loss, more than this (in the loss's units)
LOSS_FLOOR = 0.05


@dataclass(frozen=True)
class Tail:
    """How the last :data:`TAIL_EPOCHS` epochs of a run's curves move, averaged over seeds.

    ``std``: the population standard deviation of those epochs' values (what the
    ``tail_std`` column shows).  A least-squares line through them splits it in two:
    ``jitter``, the root mean square of the values around the line (epoch-to-epoch
    swings), and ``drift``, how far the line moves across the window, as an absolute
    value (a curve still rising, or falling, at the end).  NaN when no seed has three
    finite epochs.  ``loss``: the final training loss, averaged over seeds (NaN when
    the record has no training-loss curves).

    Example:
        >>> t = tail_stats([[0.1, 0.5, 0.7, 0.5, 0.7, 0.5]])   # swings by 0.2 around 0.58
        >>> round(t.std, 4), round(t.drift, 4)
        (0.098, 0.0)
    """

    std: float
    jitter: float
    drift: float
    loss: float = math.nan


def _seed_tail(curve, epochs: int) -> tuple[float, float, float] | None:
    import numpy as np

    y = np.asarray(curve[-epochs:], dtype=np.float64)
    if len(y) < 3 or not np.isfinite(y).all():
        return None  # two points always lie on a line: nothing to tell jitter from drift
    t = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(t, y, 1)
    residual = y - (slope * t + intercept)
    return float(y.std()), float(np.sqrt(np.mean(residual**2))), abs(float(slope)) * (len(y) - 1)


def tail_stats(curves, epochs: int = TAIL_EPOCHS, loss_curves=()) -> Tail:
    """:class:`Tail` of the per-seed ``curves`` (one list of per-epoch values per seed)
    and the per-seed training-loss curves ``loss_curves``."""
    finals = [float(c[-1]) for c in loss_curves if c and math.isfinite(c[-1])]
    loss = sum(finals) / len(finals) if finals else math.nan
    per_seed = [s for s in (_seed_tail(c, epochs) for c in curves if c) if s is not None]
    if not per_seed:
        return Tail(math.nan, math.nan, math.nan, loss)
    std, jitter, drift = (sum(v) / len(per_seed) for v in zip(*per_seed))
    return Tail(std, jitter, drift, loss)


def stability(tail: Tail, reference_tails=()) -> str | None:
    """``"unstable"``, ``"not converged"``, ``"stable"``, or None when ``tail`` is NaN.

    Unstable: ``tail.jitter`` above :data:`STABILITY_FLOOR` and above
    :data:`STABILITY_RATIO` times the largest jitter among ``reference_tails``.
    Not converged (checked second): ``tail.drift`` above the same bounds computed
    from the references' drifts, or ``tail.loss`` above :data:`LOSS_FLOOR` and above
    :data:`STABILITY_RATIO` times the largest final training loss among the
    references (only where a reference has one).

    Example:
        >>> relu = Tail(std=0.006, jitter=0.005, drift=0.008)
        >>> stability(Tail(std=0.1, jitter=0.1, drift=0.01), [relu])
        'unstable'
        >>> stability(Tail(std=0.02, jitter=0.004, drift=0.06), [relu])
        'not converged'
        >>> stability(Tail(std=0.01, jitter=0.009, drift=0.015), [relu])
        'stable'
        >>> relu_fit = Tail(std=0.006, jitter=0.005, drift=0.008, loss=0.02)
        >>> stability(Tail(std=0.01, jitter=0.004, drift=0.01, loss=0.6), [relu_fit])  # cannot fit its data
        'not converged'
    """
    if math.isnan(tail.jitter):
        return None

    def bound(field: str) -> float:
        values = [getattr(r, field) for r in reference_tails if not math.isnan(getattr(r, field))]
        return max([STABILITY_FLOOR] + [STABILITY_RATIO * v for v in values])

    if tail.jitter > bound("jitter"):
        return "unstable"
    if tail.drift > bound("drift"):
        return "not converged"
    losses = [r.loss for r in reference_tails if not math.isnan(r.loss)]
    if losses and not math.isnan(tail.loss) and tail.loss > max(LOSS_FLOOR, STABILITY_RATIO * max(losses)):
        return "not converged"
    return "stable"


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
            "_epochs": r.epochs or e.config.get("epochs"), "_tail": tail_stats(r.curves, loss_curves=r.loss_curves),
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
    df["tail_std"] = [t.std for t in df["_tail"]]
    df["stability"] = _stability_column(df)
    df["_pruned"] = df["status"] != "ok"
    df = df.sort_values(["_pruned", "score", "spread", "_order"], ascending=[True, False, True, True])
    df.insert(0, "rank", range(1, len(df) + 1))
    df["score_text"] = [f"{s:.4f} ± {d:.4f}" for s, d in zip(df["score"], df["spread"])]
    return df[COLUMNS].reset_index(drop=True)


def _stability_column(df: pd.DataFrame) -> list[str | None]:
    """:func:`stability` of each row that trained to the end, against the references
    trained on the same task and epochs (a pruned run's last epochs are early ones)."""
    refs: dict[tuple, list[Tail]] = {}
    for _, row in df[df["baseline"].notna()].iterrows():
        refs.setdefault((row["task"], row["_epochs"]), []).append(row["_tail"])
    return [stability(row["_tail"], refs.get((row["task"], row["_epochs"]), ())) if row["status"] == "ok" else None
            for _, row in df.iterrows()]


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
    gain_vs, wins, p, tail_std, stability, baseline, params, kernel_ms, status, task,
    metric, search, key``.
    ``id`` (``SEARCH:NUMBER``) is what ``actsearch show`` and ``export`` accept;
    ``formula`` is canonical text (``actsearch.parse`` reads it); ``gain_vs`` names
    the reference the gain is measured against; ``wins`` and ``p`` compare seed by
    seed with it; ``tail_std`` and ``stability`` (``stable``, ``unstable``, ``not
    converged``; None for runs stopped early or shorter than three epochs) say how much
    its last epochs move (module docstring); ``baseline`` names the reference a row is
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
#: the columns the text and Markdown tables (and the HTML report) show, and their headers
TABLE_COLUMNS = ["rank", "id", "formula", "family", "score_text", "gain", "wins", "p", "tail_std", "stability",
                 "params", "kernel_ms", "status"]
TABLE_HEADERS = {"score_text": "score (mean ± std)", "tail_std": "tail std", "kernel_ms": "kernel ms"}
_NUMBER_FORMATS = {"gain": "{:+.4f}", "tail_std": "{:.4f}", "kernel_ms": "{:.3f}"}


def format_value(column: str, value) -> str:
    """One cell of a leaderboard table as the text, Markdown and HTML tables print it.

    Example:
        >>> format_value("gain", 0.01234), format_value("p", 0.0004), format_value("wins", None)
        ('+0.0123', '<0.001', '-')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column == "p":
        return format_p(value)
    if column in _NUMBER_FORMATS:
        return _NUMBER_FORMATS[column].format(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def short_forms(texts: list[str], width: int = 60, head: int = 16) -> list[str]:
    """``texts`` cut to ``width`` characters, different texts kept different.

    A text that fits is left alone; a longer one is cut with ``...``.  Where two
    different texts would be cut to the same form (rational candidates share their
    first hundred characters and differ in their initial values), each shows its
    first ``head`` characters, ``...``, and its text from the last space before
    the point where it departs from the text closest to it.

    Example:
        >>> a = "(a0 + a1*x)/(1 + abs(b1)*abs(x)); a0=0.021, a1=0.5, b1=0.1"
        >>> short_forms([a, a.replace("a0=0.021", "a0=0.034"), "relu(x)"], width=40)
        ['(a0 + a1*x)/(1 +...a0=0.021, a1=0.5, ...', '(a0 + a1*x)/(1 +...a0=0.034, a1=0.5, ...', 'relu(x)']
    """
    forms = [_cut(t, width) for t in texts]
    groups: dict[str, set[str]] = {}
    for text, form in zip(texts, forms):
        groups.setdefault(form, set()).add(text)
    for i, text in enumerate(texts):
        others = groups[forms[i]] - {text}
        if not others:
            continue
        # where this text departs from its nearest neighbour, from the start of that word
        split = max(_common_prefix(text, o) for o in others)
        start = max(text.rfind(" ", 0, split) + 1, head)
        forms[i] = text[:head] + "..." + _cut(text[start:], width - head - 3)
    return forms


def _display(df: pd.DataFrame, columns: list[str], width: int = 60) -> tuple[list[str], list[list[str]]]:
    headers = [TABLE_HEADERS.get(c, c) for c in columns]
    formulas = short_forms([str(v) for v in df["formula"]], width) if "formula" in columns else []
    rows = []
    for i, (_, row) in enumerate(df.iterrows()):
        cells = [formulas[i] + _baseline_tag(row) if c == "formula" else format_value(c, row[c]) for c in columns]
        rows.append(cells)
    return headers, rows


def _baseline_tag(row) -> str:
    return f"  [{row['baseline']}]" if isinstance(row.get("baseline"), str) else ""


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
    parts = [table(*_display(ranked, TABLE_COLUMNS)) if len(ranked) else "(no scored candidates)"]
    if len(failed):
        parts.append(f"\nfailed ({len(failed)}):" if fmt == "table" else f"\n**Failed ({len(failed)})**\n")
        parts.append(table(*_display(failed, ["id", "formula", "status", "reason"])))
    return "\n".join(parts) + "\n"
