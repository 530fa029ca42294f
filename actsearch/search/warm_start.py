"""What a warm start knows: scores of functions on another task, from a table or a stored search.

``actsearch search --optimizer surrogate --warm-start SOURCE`` fits the surrogate's
first model on these scores (:class:`~actsearch.optimizers.surrogate.SurrogateOptimizer`'s
``prior``), so its first proposals are those the other task ranked well, and this
task's own results take over as they come in.  ``SOURCE`` is a benchmark table
(a CSV written by ``actsearch benchmark build``) or the name of a search in the
same store.  Scores are read with the rule a search ranks by: the tail mean when
the table has curves, not-converged rows ranked last (:mod:`actsearch.scoring`).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("text,fingerprint,mean_accuracy,status\\nrelu(x),,0.9,ok\\ntanh(x),,0.7,ok\\n")
    >>> [(c.text, s) for c, s in load_prior(path)]
    [('relu(x)', 0.9), ('tanh(x)', 0.7)]
"""

from __future__ import annotations

import csv
import os

from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate

__all__ = ["load_prior", "warm_start_source", "WarmStartError"]


class WarmStartError(ActsearchError):
    """A warm-start source that cannot be read, named with what is wrong."""


def _table_rule(path: str) -> tuple[str, bool]:
    """The table's own best rule: tail mean and convergence where it has curves and losses."""
    with open(path, newline="") as fh:
        columns = csv.DictReader(fh).fieldnames or []
    curves = any(c.startswith("curve_seed") for c in columns)
    losses = any(c.startswith("loss_seed") for c in columns)
    from actsearch.scoring import SCORE_EPOCHS

    return (f"tail:{SCORE_EPOCHS}" if curves else "last"), losses


def _is_file(source: str) -> bool:
    return source.endswith(".csv") or os.path.sep in source or os.path.exists(source)


def warm_start_source(source: str) -> str:
    """``source`` as a search stores it: a table file's absolute path (a resume reads the
    same file from any folder), a search's name as it is."""
    return os.path.abspath(os.path.expanduser(source)) if _is_file(source) else source


def load_prior(source: str, store=None) -> list[tuple[Candidate, float | None]]:
    """``(candidate, score or None)`` for every function of ``source`` (a table file or a
    stored search's name in ``store``); :class:`WarmStartError` in one line otherwise.
    Scores are higher-is-better (a search of ``--mode min`` is turned round)."""
    from actsearch.benchmarking import BenchmarkError, Table

    if _is_file(source):
        if not os.path.isfile(source):
            raise WarmStartError(f"warm start: table {source!r} does not exist")
        try:
            score, convergence = _table_rule(source)
            try:
                table = Table.load(source, score=score, convergence=convergence)
            except BenchmarkError as exc:
                if not convergence or "references" not in str(exc):
                    raise
                table = Table.load(source, score=score)  # a table without the references' rows
        except (BenchmarkError, csv.Error, UnicodeDecodeError, OSError) as exc:
            if "no row with status 'ok'" in str(exc):
                raise WarmStartError(f"warm start: table {source!r} has no finished row to learn from") from None
            raise WarmStartError(f"warm start: {source!r} is not a benchmark table ({exc})") from None
        return [(r.candidate, r.accuracy) for r in table.rows]
    if store is None:
        raise WarmStartError(f"warm start: {source!r} is neither a table file nor, without a store, a search")
    names = [s["name"] for s in store.searches()]
    if source not in names:
        raise WarmStartError(f"warm start: no search named {source!r} in the store and no such table file "
                             f"(searches: {', '.join(names) or 'none'})")
    from actsearch.scoring import higher_is_better
    from actsearch.symbolic.expr import parse

    from .config import StoredConfig

    found = store.search(source)
    mode = StoredConfig.from_dict(found.config).mode
    out = []
    for r in found.results():
        try:
            cand = parse(r.text, family=r.family or "custom")
        except ActsearchError:
            continue
        ok = r.status == "ok" and r.score is not None
        out.append((cand, higher_is_better(float(r.score), mode) if ok else None))
    if not any(s is not None for _, s in out):
        raise WarmStartError(f"warm start: search {source!r} has no finished candidate to learn from")
    return out
