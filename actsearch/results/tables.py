"""A leaderboard as text: a table, CSV, JSON or Markdown (:func:`render`).

The text and Markdown tables show the main columns (:data:`TABLE_COLUMNS`, also the
HTML report's), formulas cut to a width that keeps different ones different
(:func:`short_forms`), and list the failures below.
"""

from __future__ import annotations

import json
import math

from ..errors import ActsearchError
from .statistics import format_p

__all__ = ["render", "format_value", "short_forms", "FORMATS", "TABLE_COLUMNS", "TABLE_HEADERS"]

FORMATS = ("table", "csv", "json", "markdown")

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


def _display(df, columns: list[str], width: int = 60) -> tuple[list[str], list[list[str]]]:
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


def render(ranked, failed=None, fmt: str = "table") -> str:
    """``ranked`` (and ``failed``) as text in one of :data:`FORMATS`.

    ``csv`` holds the ranked table only (every column); ``json`` is an object
    ``{"ranked": [...], "failed": [...]}``; ``table`` and ``markdown`` show the main
    columns and list failures below.
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
    parts = [table(*_display(ranked, TABLE_COLUMNS)) if len(ranked) else "(no scored candidates)"]
    if failed is not None and len(failed):
        parts.append(f"\nfailed ({len(failed)}):" if fmt == "table" else f"\n**Failed ({len(failed)})**\n")
        parts.append(table(*_display(failed, ["id", "formula", "status", "reason"])))
    return "\n".join(parts) + "\n"
