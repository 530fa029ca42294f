"""A self-contained HTML page about one search, readable offline.

The page holds the search's settings, its progress (score per trial and the best
so far), the leaderboard, the failures with their reasons, and the ``show`` picture
of the best candidates; pictures are PNG images embedded as base64 ``data:`` URLs,
so ``index.html`` is the whole report (``leaderboard.csv`` is written beside it).

Example:
    >>> import os, tempfile
    >>> from actsearch.store import Store
    >>> from actsearch.result import Result
    >>> folder = tempfile.mkdtemp()
    >>> url = "sqlite:///" + os.path.join(folder, "db.sqlite")
    >>> s = Store(url).open_search("demo", {"task": "digits", "epochs": 2, "seeds": 1})
    >>> s.record(Result(key="a", text="relu(x)", score=0.90, curves=[[0.8, 0.9]]))
    >>> path = write_report(os.path.join(folder, "report"), storage=url)
    >>> path.name, "data:image/png;base64," in path.read_text()
    ('index.html', True)
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from pathlib import Path

import pandas as pd

from . import plots
from .files import make_folder, remove_folders, write_files
from ..store.view import StoreView
from ..errors import ActsearchError
from .leaderboard import failures, leaderboard
from .statistics import STABILITY_FLOOR, STABILITY_RATIO, TAIL_EPOCHS
from .tables import TABLE_COLUMNS, TABLE_HEADERS, format_value
from ..store.url import masked

__all__ = ["write_report", "report_html"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.95em; } img { max-width: 100%; } .muted { color: #777; }
.warn { color: #b00; font-size: 0.8em; font-weight: normal; }
"""

def _png(fig) -> str:
    data = base64.b64encode(plots.png_bytes(fig)).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _fmt(column: str, value) -> tuple[str, bool]:
    """The cell's text (as in the text table) and whether it is a number (right-aligned)."""
    return format_value(column, value), value is None or isinstance(value, numbers.Number)


def _table(df: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(TABLE_HEADERS.get(c, c))}</th>" for c in columns)
    body = []
    for _, row in df.iterrows():
        cells = []
        for c in columns:
            text, numeric = _fmt(c, row[c])
            text = html.escape(text)
            if c == "formula":
                text = f"<code>{text}</code>"
                if isinstance(row.get("baseline"), str):
                    text += f' <span class="muted">[{html.escape(str(row["baseline"]))}]</span>'
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _scored(entry, status: str = "ok") -> bool:
    r = entry.result
    return bool(r.status == status and r.score is not None and math.isfinite(r.score))


def _progress_figure(entries):
    done = [e for e in entries if _scored(e)]
    stopped = [e for e in entries if _scored(e, "pruned")]
    metric = next((e.result.metric for e in entries if e.result.metric), "score")
    return plots.progress_figure(
        [e.trial for e in done], [e.result.score for e in done],
        [e.trial for e in entries if not (_scored(e) or _scored(e, "pruned"))], metric,
        pruned=[(e.trial, e.result.score) for e in stopped],
    )


_NOTE = (
    "gain: score minus the best of the search's references (relu, gelu, silu unless it was started with others) "
    "on the same task; wins: seeds on which "
    "the candidate beat that reference trained on the same seed; p: one-sided paired t-test; tail std: standard "
    "deviation of the metric over the last {k} epochs of each seed's curve, averaged over seeds; stability: "
    "<b>unstable</b> when those epochs swing around their trend more than {r:g} times as much as any reference's "
    "(and by more than {f:g}), <b>not converged</b> when the trend itself still moves more than {r:g} times as far "
    "as the references' (and more than {f:g}). Use an id with <code>actsearch show ID</code> or "
    "<code>actsearch export ID --out my_act.py</code>."
).format(k=TAIL_EPOCHS, r=STABILITY_RATIO, f=STABILITY_FLOOR)


def _best_section(ranked: pd.DataFrame, storage: str, show_top: int) -> list[str]:
    """The pictures of the best searched candidates that trained to the end, their
    stability flags in the headings; candidates stopped early are only counted."""
    searched = ranked[ranked["baseline"].isna()]
    best = searched[searched["status"] == "ok"].head(show_top)
    stopped = int((searched["status"] != "ok").sum())
    parts = ["<h2>Best candidates</h2>"] if len(best) or stopped else []
    if stopped:
        parts.append(f'<p class="muted">{stopped} candidate(s) stopped early (scored at a lower budget) are not '
                     "shown here; the leaderboard lists them as pruned.</p>")
    for _, row in best.iterrows():
        flag = row["stability"]
        warn = (f' <span class="warn">{html.escape(flag)}: tail std {format_value("tail_std", row["tail_std"])}</span>'
                if isinstance(flag, str) and flag != "stable" else "")
        parts.append(f"<h3>#{row['rank']} <code>{html.escape(row['id'])}</code>{warn}</h3>")
        parts.append(_png(plots.figure_for(row["id"], storage=storage, stability=flag)))
    return parts


def report_html(search: str | None = None, *, storage: str | None = None, show_top: int = 3) -> str:
    """The report page of ``search`` (default: the latest) as one HTML string."""
    view = StoreView(storage)
    name = search or view.latest()
    entries = view.entries([name])
    config = view.config(name)
    ranked = leaderboard(view.url, name)
    failed = failures(view.url, name)

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>actsearch report: {html.escape(name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>actsearch search <code>{html.escape(name)}</code></h1>",
        f'<p class="muted">store {html.escape(masked(view.url))}; {len(entries)} evaluations, '
        f"{len(ranked)} scored, {len(failed)} failed; state {html.escape(str(view.store.search(name).state))}</p>",
        "<h2>Settings</h2>",
        "<table><tbody>",
    ]
    for key in sorted(config):
        parts.append(f"<tr><th>{html.escape(str(key))}</th><td><code>{html.escape(str(config[key]))}</code></td></tr>")
    parts.append("</tbody></table>")
    if entries:
        parts += ["<h2>Progress</h2>", _png(_progress_figure(entries))]
    parts.append("<h2>Leaderboard</h2>")
    parts.append(_table(ranked, TABLE_COLUMNS) if len(ranked) else "<p>No candidate was scored.</p>")
    parts.append(f'<p class="muted">{_NOTE}</p>')
    if len(failed):
        parts += [f"<h2>Failed ({len(failed)})</h2>", _table(failed, ["id", "formula", "status", "reason"])]
    parts += _best_section(ranked, view.url, show_top)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out: "str | Path", search: str | None = None, *, storage: str | None = None) -> Path:
    """Write ``out/index.html`` (and ``out/leaderboard.csv``); returns the HTML path.

    Both files are written, or neither (and a folder created for them is removed).
    """
    folder = Path(out)
    created = make_folder(folder)
    try:
        page = report_html(search, storage=storage)
        table = leaderboard(storage, search).to_csv(index=False)
        write_files({folder / "index.html": page, folder / "leaderboard.csv": table})
    except BaseException:  # an unknown search, an unwritable file, Ctrl-C: leave no folder behind
        remove_folders(created)
        raise
    return folder / "index.html"
