"""One module per ``actsearch`` subcommand; see :mod:`actsearch.cli`.

``actsearch --help`` imports every command module: each imports what its ``run``
needs of the search, the kernels and the results inside ``run`` (torch, pandas,
Ray), and only light modules here at the top.
"""

from actsearch.errors import ActsearchError
from actsearch.store import DEFAULT_URL


def add_storage_option(parser) -> None:
    """``--storage URL``, as every command that reads or writes the results store takes it."""
    parser.add_argument("--storage", default=None, help=f"results database URL (default: {DEFAULT_URL})")


def parse_options(items: list[str], flag: str = "--task-option") -> dict[str, str]:
    """``["KEY=VALUE", ...]`` -> ``{KEY: VALUE}``; a malformed item is a one-line error."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ActsearchError(f"{flag} {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def terminal_width() -> int | None:
    """The columns of the terminal stdout writes to (``COLUMNS`` when set); None when
    stdout is not a terminal (a file, a pipe: tables keep their default widths)."""
    import shutil

    return shutil.get_terminal_size(fallback=(0, 0)).columns or None


def add_wide_option(parser) -> None:
    """``--wide``, as every command that prints a leaderboard takes it."""
    parser.add_argument("--wide", action="store_true",
                        help="every column and whole formulas, however wide (default: fit the terminal)")


def print_leaderboard(name: str, storage: str | None, *, top: int | None = None, fmt: str = "table",
                      against: str | None = None, wide: bool = False) -> None:
    """Search ``name``'s leaderboard and failures on stdout, fitted to the terminal, with
    the columns' legend; with ``top``, the best ``top`` and the references (which always show).
    A search of ``--objective pareto``: its front of score against cost, all of it."""
    from actsearch.results.leaderboard import failures, front_order, leaderboard, render
    from actsearch.store.view import StoreView

    ranked = leaderboard(storage, name, against=against)
    front = front_order(ranked) if len(ranked) else ranked
    if StoreView(storage).config(name).get("objective") == "pareto" and len(front):
        print(f"the Pareto front of score against cost: {len(front)} of {int((ranked['status'] == 'ok').sum())} "
              f"completed candidates (actsearch leaderboard --name {name} lists every one)", flush=True)
        ranked = front  # what leaderboard(..., front=True) gives, without reading the store again
    elif top is not None:
        ranked = ranked[(ranked["rank"] <= top) | ranked["baseline"].notna()]
    print(render(ranked, failures(storage, name), fmt, width=terminal_width(), wide=wide, show_legend=True)
          + score_line(storage, ranked, fmt), end="", flush=True)


def score_line(storage: str | None, ranked, fmt: str) -> str:
    """``score: val_loss (lower is better)``, the line under a text or Markdown
    leaderboard: what its searches' scores are (``""`` for the data formats, whose
    ``metric`` column says it)."""
    from actsearch.scoring import score_rule
    from actsearch.search.config import StoredConfig
    from actsearch.store.view import StoreView

    if fmt not in ("table", "markdown") or ranked.empty:
        return ""
    view = StoreView(storage)
    rules = {}
    for search in dict.fromkeys(ranked["search"]):
        kept = StoredConfig.from_dict(view.config(search))
        metric = kept.config.metric or next(iter(ranked.loc[ranked["search"] == search, "metric"]), "score")
        rules[score_rule(metric, kept.mode)] = None
    return f"score: {'; '.join(rules)}\n"
