"""A self-contained HTML page about one search, readable offline.

The page holds the search's settings, its progress (score per trial and the best
so far), every scored candidate's f(x) overlaid and coloured by score, score against
cost with the Pareto front labelled, the
leaderboard in its sections with what the columns mean, the failures with their
reasons, the ``show`` picture of the best candidates (learning curves beside the best
reference's, training loss) and, where the search was confirmed (or is a
confirmation), each candidate's search score against its fresh-seed score; pictures
are PNG images embedded as base64 ``data:`` URLs, so ``index.html`` is the whole
report (``leaderboard.csv`` is written beside it).

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
from .tables import SECTION_TITLES, TABLE_COLUMNS, TABLE_HEADERS, format_value, legend, table_columns
from .verdicts import verdicts
from ..store.url import masked

__all__ = ["write_report", "report_html"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 0.95em; } img { max-width: 100%; } .muted { color: #777; }
th.section { background: #fff; text-align: left; font-weight: normal; font-style: italic; padding-top: 0.8em; }
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
    section = "ranked"
    if "section" in df.columns:  # each section together, under its heading (ranks kept)
        order = {name: k for k, name in enumerate(["ranked", *SECTION_TITLES])}
        df = df.assign(_order=[order.get(v, 0) for v in df["section"]]).sort_values("_order", kind="stable")
    for _, row in df.iterrows():
        if row.get("section", section) != section:
            section = row["section"]
            body.append(f'<tr><th colspan="{len(columns)}" class="section">'
                        f'{html.escape(SECTION_TITLES.get(section, section))}</th></tr>')
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


def _note(ranked: pd.DataFrame) -> str:
    """What the columns mean (the text table's legend), and what to do with an id."""
    return ("<br>".join(html.escape(line) for line in legend(bool(ranked["search_id"].notna().any()))) +
            "<br>Use an id with <code>actsearch show ID</code> or <code>actsearch export ID --out my_act.py</code>.")


def _compare_section(ranked: pd.DataFrame, view, limit: int = 30) -> list[str]:
    """Every completed candidate's f(x) (the best ``limit``), overlaid and coloured by score."""
    rows = ranked[ranked["status"] == "ok"].head(limit)
    if len(rows) < 2:
        return []
    picture = plots.compare_picture(rows["id"].tolist(), storage=view.url)
    more = f" (the best {limit} of {int((ranked['status'] == 'ok').sum())})" if len(rows) < (ranked["status"] == "ok").sum() else ""
    return [f"<h2>The candidates' shapes{more}</h2>", _png(picture.figure)]


def _front_section(ranked: pd.DataFrame, config: dict) -> list[str]:
    """Score against cost of the completed candidates, the Pareto front labelled."""
    rows = ranked[(ranked["status"] == "ok") & ranked["cost"].notna()]
    if len(rows) < 2:
        return []
    points = [(row["formula"] + (f" [{row['baseline']}]" if isinstance(row["baseline"], str) else ""),
               float(row["cost"]), float(row["score"]), bool(row["front"])) for _, row in rows.iterrows()]
    metric = next((m for m in rows["metric"] if isinstance(m, str) and m), "score")
    on = sum(p[3] for p in points)
    return ["<h2>Score against cost</h2>", _png(plots.front_figure(points, metric, config.get("mode"))),
            f'<p class="muted">{on} of {len(points)} completed candidates are on the Pareto front (no other is '
            "both better and cheaper); <code>actsearch leaderboard --front</code> lists them. Cost: the formula's "
            "operations per element, weighted.</p>"]


def _confirmation_section(name: str, ranked: pd.DataFrame, view) -> list[str]:
    """A confirmation's (or the first confirmation of this search's) search score
    against fresh-seed score, one point per candidate."""
    confirmation = name if ranked["search_id"].notna().any() else next(iter(view.store.confirmations(name)), None)
    if confirmation is None:
        return []
    rows = leaderboard(view.url, confirmation) if confirmation != name else ranked
    held = {v.id: v.confirmed for v in verdicts(rows)}
    points = [(row["formula"] + (f" [{row['baseline']}]" if isinstance(row["baseline"], str) else ""),
               row["search_score"], row["score"], held.get(row["id"]) if not isinstance(row["baseline"], str) else None)
              for _, row in rows.iterrows() if isinstance(row["search_id"], str) and row["status"] == "ok"]
    if not points:
        return []
    metric = next((m for m in rows["metric"] if isinstance(m, str) and m), "score")
    figure = plots.confirmation_figure(points, metric, f"search {view.config(confirmation).get('confirms')!r} "
                                                       f"against its confirmation {confirmation!r}")
    lines = "".join(f"<li><code>{html.escape(v.line())}</code></li>" for v in verdicts(rows))
    return ["<h2>Search against confirmation on fresh seeds</h2>", _png(figure), f"<ul>{lines}</ul>"]


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


def _failed_pictures(failed: pd.DataFrame, entries, storage: str, show: int = 2) -> list[str]:
    """Pictures of the failed candidates that trained for a while before they failed
    (diverged, NaN): the best ``show`` by the best value their curves reached."""
    by_id = {e.id: e for e in entries}
    reached = []
    for _, row in failed.iterrows():
        e = by_id.get(row["id"])
        curves = [c for c in e.result.curves if len(c)] if e is not None else []
        if curves and e.result.status in ("diverged", "nan"):
            reached.append((max(max(c) for c in curves), row["id"], row["reason"]))
    parts = []
    for best, ident, reason in sorted(reached, reverse=True)[:show]:
        parts.append(f"<h3><code>{html.escape(ident)}</code> reached {best:.4f} before it failed: "
                     f"{html.escape(reason)}</h3>")
        parts.append(_png(plots.figure_for(ident, storage=storage)))
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
    parts += _compare_section(ranked, view)
    parts += _front_section(ranked, config)
    parts.append("<h2>Leaderboard</h2>")
    parts.append(_table(ranked, table_columns(ranked)) if len(ranked) else "<p>No candidate was scored.</p>")
    if len(ranked):
        parts.append(f'<p class="muted">{_note(ranked)}</p>')
    parts += _confirmation_section(name, ranked, view)
    if len(failed):
        parts += [f"<h2>Failed ({len(failed)})</h2>", _table(failed, ["id", "formula", "status", "reason"])]
        parts += _failed_pictures(failed, entries, view.url)
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
