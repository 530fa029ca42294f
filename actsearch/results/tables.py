"""A leaderboard as text: a table, CSV, JSON or Markdown (:func:`render`).

The text and Markdown tables show the main columns (:data:`TABLE_COLUMNS`, also the
HTML report's; a confirmation adds the id and score of each candidate in the search it
confirms and the Holm-corrected p), one section per kind of row (the ranked ones,
copies of earlier searches' results, those that did not converge, those stopped
early; :data:`~actsearch.results.leaderboard.SECTIONS`), and list the failures below.

Formulas that share their expression and differ only in parameter values (the
rational candidates of a search) print the expression once, as a template ``T1``
above the table, and on each row the values that differ (:func:`templates`); other
long formulas are cut to a width that keeps different ones different
(:func:`short_forms`).  Given a ``width`` (the terminal's), the formula column
shrinks so the table fits, and the least needed columns go when that is not enough.
"""

from __future__ import annotations

import json
import math
import textwrap

from ..errors import ActsearchError
from .statistics import TAIL_EPOCHS, format_p

__all__ = ["render", "format_value", "short_forms", "templates", "legend", "table_columns", "FORMATS",
           "TABLE_COLUMNS", "TABLE_HEADERS", "SECTION_TITLES"]

FORMATS = ("table", "csv", "json", "markdown")

#: the columns the text and Markdown tables (and the HTML report) show, and their headers
TABLE_COLUMNS = ["rank", "id", "formula", "family", "score_text", "gain", "wins", "p", "tail_std", "stability",
                 "params", "cost", "kernel_ms", "status"]
#: what a confirmation's tables show besides: where each candidate came from, and p corrected
CONFIRMATION_COLUMNS = {"id": ["search_id", "search_score"], "p": ["p_holm"]}
TABLE_HEADERS = {"score_text": "score (mean ± std)", "tail_std": "tail std", "kernel_ms": "kernel ms",
                 "p_holm": "p holm", "search_id": "search id", "search_score": "search score"}
_NUMBER_FORMATS = {"cost": "{:.0f}", "gain": "{:+.4f}", "tail_std": "{:.4f}", "kernel_ms": "{:.3f}", "search_score": "{:.4f}"}
#: columns left out, in this order, when a table must fit a width and the formula has shrunk all it can
#: (a confirmation's search id last: its verdict lines keep the link back)
_DROPPABLE = ["status", "kernel_ms", "params", "cost", "family", "tail_std", "search_score", "wins", "search_id"]
#: columns a fitted table leaves out when no row has a value in them (one seed: no wins, no p)
_OPTIONAL = {"wins", "p", "p_holm", "tail_std", "stability", "kernel_ms", "search_id", "search_score"}
#: the narrowest formula column before columns are dropped, and the narrowest at all
_MIN_FORMULA = 40
_FLOOR_FORMULA = 10
#: the formula column's width when no width is given (a library call, not a terminal)
_DEFAULT_FORMULA = 60
#: each section's heading: what its rows are and how they rank
SECTION_TITLES = {
    "copied": "copied from earlier searches (trained there on the same task, epochs and seeds; ranked with the rows "
              "above)",
    "not converged": "not converged (final training loss far above the references'): ranked below every converged "
                     "candidate, whatever its score",
    "stopped early": "stopped early by the scheduler (scored at a lower budget: not comparable with the rows above)",
}


def format_value(column: str, value) -> str:
    """One cell of a leaderboard table as the text, Markdown and HTML tables print it.

    Example:
        >>> format_value("gain", 0.01234), format_value("p", 0.0004), format_value("wins", None)
        ('+0.0123', '<0.001', '-')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column in ("p", "p_holm"):
        return format_p(value)
    if column in _NUMBER_FORMATS:
        return _NUMBER_FORMATS[column].format(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 3)] + "..."


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
    head = min(head, max(1, width // 2 - 2))  # a narrow column keeps room for the part that differs
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


def _split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """``"EXPR; a=1, b=2"`` -> ``("EXPR", [("a", "1"), ("b", "2")])``."""
    expr, sep, params = text.partition(";")
    pairs = []
    for item in params.split(",") if sep else []:
        name, eq, value = item.strip().partition("=")
        if eq:
            pairs.append((name.strip(), value.strip()))
    return expr.strip(), pairs


def _short_number(text: str) -> str:
    try:
        return f"{float(text):.4g}"
    except ValueError:
        return text


def templates(texts: list[str]) -> tuple[dict[str, str], list[str]]:
    """Formulas that share their expression, printed once: ``({label: expression},
    cells)``.

    Two or more texts with the same expression and parameters become rows of a
    template ``T1``, ``T2``, ...; each such row's cell is the label and the values
    that differ between the template's rows (four significant digits); other texts
    are their own cell.

    Example:
        >>> found, cells = templates(["(a + x)/(1 + abs(b*x)); a=0.021, b=0.5",
        ...                           "(a + x)/(1 + abs(b*x)); a=0.034, b=0.5", "relu(x)"])
        >>> found, cells
        ({'T1': '(a + x)/(1 + abs(b*x))'}, ['T1: a=0.021', 'T1: a=0.034', 'relu(x)'])
    """
    split = [_split(t) for t in texts]
    members: dict[str, list[int]] = {}
    for i, (expr, pairs) in enumerate(split):
        if pairs:
            members.setdefault(expr, []).append(i)
    found: dict[str, str] = {}
    cells = list(texts)
    for expr, rows in members.items():
        if len({texts[i] for i in rows}) < 2:
            continue
        label = f"T{len(found) + 1}"
        found[label] = expr
        values = [dict(split[i][1]) for i in rows]
        names = list(dict.fromkeys(n for v in values for n in v))
        differing = [n for n in names if len({v.get(n) for v in values}) > 1]
        for i, value in zip(rows, values):
            shown = " ".join(f"{n}={_short_number(value[n])}" for n in differing if n in value)
            cells[i] = f"{label}: {shown}" if shown else label
    return found, cells


def legend(confirmation: bool = False) -> list[str]:
    """What the table's columns mean, one line each (printed under the text table)."""
    lines = [
        "score: the task's metric, mean over seeds (± their spread, with two seeds or more); gain: score minus the "
        "best of the search's references (relu, gelu, silu unless it was started with others) on the same task, "
        "epochs and seeds",
        "wins: seeds on which it beat that reference trained on the same seed; p: one-sided paired t-test that it "
        "is better" + ("; p holm: p corrected for the candidates tested together (Holm)" if confirmation else ""),
        f"tail std: std of the metric over each seed's last {TAIL_EPOCHS} epochs; stability: unstable (swings more "
        "than twice any reference's), drifting (still moving more than twice as far), not converged (final "
        "training loss above max(0.05, twice the references'))",
        "cost: operations per element of the formula, weighted (add, multiply 1; division 4; exp, tanh and "
        "other transcendental functions 8; a shared sub-expression once)",
    ]
    if confirmation:
        lines.append("search id, search score: the same function in the search it was picked from, and its "
                     "score there (on the search's own seeds)")
    return lines


def _is_confirmation(df) -> bool:
    return "search_id" in df.columns and df["search_id"].notna().any()


def table_columns(df, columns: list[str] = TABLE_COLUMNS) -> list[str]:
    """``columns``, with a confirmation's own beside the ones they explain."""
    if not _is_confirmation(df):
        return list(columns)
    out = []
    for c in columns:
        out.append(c)
        out += [extra for extra in CONFIRMATION_COLUMNS.get(c, []) if extra in df.columns]
    return out


def _cells(df, columns: list[str], formulas: list[str]) -> list[list[str]]:
    rows = []
    for i, (_, row) in enumerate(df.iterrows()):
        cells = []
        for c in columns:
            if c == "formula":
                cells.append(formulas[i] + _baseline_tag(row))
            elif c == "status" and isinstance(row.get("copied_from"), str):
                cells.append(f"{row[c]}, copied")
            else:
                cells.append(format_value(c, row[c]))
        rows.append(cells)
    return rows


def _baseline_tag(row) -> str:
    return f"  [{row['baseline']}]" if isinstance(row.get("baseline"), str) else ""


def _widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]


def _fit(df, columns: list[str], width: int | None, wide: bool) -> tuple[list[str], dict[str, str], list[str]]:
    """The columns kept, the templates and the formula cells, for a table at most
    ``width`` characters wide (None: the formula column at its default width)."""
    found, cells = templates([str(v) for v in df["formula"]]) if "formula" in columns else ({}, [])
    if wide or "formula" not in columns:
        return columns, found, cells
    tags = [len(_baseline_tag(row)) for _, row in df.iterrows()]
    front = "front" in df.columns and len(df) > 0 and bool(df["front"].astype(bool).all())
    columns = list(columns)
    if width is not None:  # on a terminal, a column with nothing to say gives its room to the formula
        columns = [c for c in columns if c not in _OPTIONAL or df.empty
                   or any(format_value(c, v) not in ("", "-") for v in df[c])]
    while True:
        if width is None:
            room = _DEFAULT_FORMULA
        else:
            others = [c for c in columns if c != "formula"]
            headers = [TABLE_HEADERS.get(c, c) for c in others]
            used = sum(_widths(headers, _cells(df, others, cells))) + 2 * (len(columns) - 1)
            # a reference's tag ("  [silu]") takes room only where its own formula needs the column
            room = width - used
            room -= max((t for t, c in zip(tags, cells) if t and len(c) + t > room), default=0)
            # a confirmation's corrected p stands in for the raw one when room is short
            droppable = _DROPPABLE + (["p"] if "p_holm" in columns else [])
            if front:  # a front's rows are there for their cost: it stays
                droppable = [c for c in droppable if c != "cost"]
            if room < _MIN_FORMULA and any(c in columns for c in droppable):
                columns.remove(next(c for c in droppable if c in columns))
                continue
            room = max(room, _FLOOR_FORMULA)  # nothing more to drop: the formula gives what it can
        return columns, found, short_forms(cells, room)


def _text_table(headers: list[str], groups: list[tuple[str, list[list[str]]]]) -> str:
    rows = [r for _, group in groups for r in group]
    widths = _widths(headers, rows)
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    for title, group in groups:
        if title:
            out.append(f"-- {title}")
        out += [line(r) for r in group]
    return "\n".join(out)


def _markdown_table(headers: list[str], groups: list[tuple[str, list[list[str]]]]) -> str:
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    out = []
    for k, (title, group) in enumerate(groups):
        if title:
            out.append(f"\n**{esc(title)}**\n")
        if k == 0 or title:
            out += ["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in group]
    return "\n".join(out)


def _template_lines(found: dict[str, str], width: int | None, fmt: str) -> list[str]:
    lines = []
    for label, expr in found.items():
        if fmt == "markdown":
            lines.append(f"- {label} = `{expr}`")
        else:
            lines += textwrap.wrap(f"{label} = {expr}", width=max(width or 10**6, 40), subsequent_indent="     ",
                                   break_long_words=False, break_on_hyphens=False)
    return lines + [""] if lines else []


def _ranked_table(ranked, fmt: str, width: int | None, wide: bool) -> str:
    columns, found, formulas = _fit(ranked, table_columns(ranked), width, wide)
    headers = [TABLE_HEADERS.get(c, c) for c in columns]
    cells = _cells(ranked, columns, formulas)
    sections = ranked["section"].tolist() if "section" in ranked.columns else ["ranked"] * len(ranked)
    # each section in rank order, in the order of SECTIONS (copies keep the ranks they share with the others)
    order = {name: k for k, name in enumerate(dict.fromkeys(["ranked", *SECTION_TITLES, *sections]))}
    groups: list[tuple[str, list[list[str]]]] = []
    for section in sorted(dict.fromkeys(sections), key=order.get):
        title = SECTION_TITLES.get(section, "")
        if title and width is not None and not wide and fmt == "table":
            title = "\n   ".join(textwrap.wrap(title, width=max(width - 3, 40)))
        groups.append((title, [row for sec, row in zip(sections, cells) if sec == section]))
    table = _text_table if fmt == "table" else _markdown_table
    return "\n".join(_template_lines(found, width, fmt) + [table(headers, groups)])


def render(ranked, failed=None, fmt: str = "table", *, width: int | None = None, wide: bool = False,
           show_legend: bool = False) -> str:
    """``ranked`` (and ``failed``) as text in one of :data:`FORMATS`.

    ``csv`` holds the ranked table only (every column); ``json`` is an object
    ``{"ranked": [...], "failed": [...]}``; ``table`` and ``markdown`` show the main
    columns in sections, templates above them, and list failures below.  ``width``
    (a terminal's columns) makes the text table fit; ``wide`` shows every column and
    whole formulas; ``show_legend`` adds what the columns mean under a text table.
    """
    if fmt not in FORMATS:
        raise ActsearchError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "csv":
        return ranked.to_csv(index=False)
    if fmt == "json":
        def as_records(df) -> list:
            return [] if df is None else json.loads(df.to_json(orient="records"))  # NaN -> null

        return json.dumps({"ranked": as_records(ranked), "failed": as_records(failed)}, indent=2)
    table = _text_table if fmt == "table" else _markdown_table
    parts = [_ranked_table(ranked, fmt, width, wide) if len(ranked) else "(no scored candidates)"]
    if failed is not None and len(failed):
        parts.append(f"\nfailed ({len(failed)}):" if fmt == "table" else f"\n**Failed ({len(failed)})**\n")
        columns = ["id", "formula", "status", "reason"]
        room = None if width is None or wide else max(_MIN_FORMULA, width // 3)
        formulas = [str(v) for v in failed["formula"]] if wide else short_forms(
            [str(v) for v in failed["formula"]], room or _DEFAULT_FORMULA)
        rows = _cells(failed, columns, formulas)
        if room is not None:  # the reason takes what is left of the line
            reason_room = max(20, width - sum(_widths(columns[:3], [r[:3] for r in rows])) - 6)
            rows = [r[:3] + [_cut(r[3], reason_room)] for r in rows]
        parts.append(table(columns, [("", rows)]))
    if show_legend and fmt == "table" and len(ranked):
        wrap = width - 1 if width and not wide else 100
        parts.append("")
        for line in legend(_is_confirmation(ranked)):
            parts += textwrap.wrap(line, width=max(wrap, 40), subsequent_indent="  ")
    return "\n".join(parts) + "\n"
