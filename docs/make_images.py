"""Make the README's leaderboard and ``show`` picture from a real search.

Usage::

    .venv/bin/python docs/make_images.py                     # runs a small search first
    .venv/bin/python docs/make_images.py --storage URL --name SEARCH   # an existing one

Writes ``docs/leaderboard.md`` (the top rows, Markdown), ``docs/show-best.png`` (the
best searched candidate: shape, derivative, learning curves beside the best
reference's, training loss, learned shapes), ``docs/compare.png`` (every completed
candidate's f(x), coloured by score),
``docs/live-progress.svg`` (the live panel of ``actsearch search`` half-way through
the search, as a terminal shows it) and ``docs/README-snippet.md`` (the commands that
made them).  The search database goes
to ``results/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: the demo search: same settings as ``actsearch search`` with these options
SEARCH = dict(task="digits", space="rational", optimizer="random", budget=12, workers=2, seeds=2)


def _live_snapshot(at: int, path: Path):
    """SearchEvents that draw the live panel (with the lines above it) once ``at``
    candidates are recorded, into an SVG, as a 110-column terminal shows it."""
    import io

    from rich.console import Console

    from actsearch.commands._live import LiveDisplay
    from actsearch.search.events import SearchEvents

    class Snapshot(SearchEvents):
        def __init__(self):
            self.display = LiveDisplay(io.StringIO())
            self.display.console = Console(file=io.StringIO(), width=110, record=True, force_terminal=True)
            self.saved = False

        def search_started(self, snapshot, placement):
            # the panel is drawn once into the recording below, not kept live
            self.display.snapshot, self.display.placement = snapshot, placement

        def trial_started(self, snapshot, text):
            self.display.snapshot = snapshot

        def trial_progress(self, snapshot, text):
            self.display.snapshot = snapshot

        def trial_recorded(self, snapshot, result, note=""):
            self.display.trial_recorded(snapshot, result, note)
            print(f"[{snapshot.done}/{snapshot.budget}] {result.status} {result.text}", flush=True)
            if snapshot.done >= at and not self.saved:
                self.display.console.print(self.display)
                self.display.console.save_svg(str(path), title="actsearch search")
                self.saved = True

    return Snapshot()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default=None, help="store of an existing search")
    parser.add_argument("--name", default=None, help="existing search name")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)

    storage = args.storage
    name = args.name
    commands = []
    if storage is None:
        db = ROOT / "results" / "docs-demo.db"
        db.unlink(missing_ok=True)
        storage = f"sqlite:///{db}"
        from actsearch.search import run_search

        name = "docs-demo"
        flags = [f"--{k} {v}" for k, v in SEARCH.items()]
        commands.append("actsearch search " + " ".join(flags) + f" --name {name}")
        print("running:", commands[-1], flush=True)
        outcome = run_search(**SEARCH, storage=storage, name=name,
                             progress=_live_snapshot(SEARCH["budget"] // 2, HERE / "live-progress.svg"))
        print(f"search took {outcome.wall_time:.0f} s", flush=True)

    from actsearch.results.leaderboard import failures, leaderboard, render
    from actsearch.results.plots import compare_picture, figure_for, save_png

    ranked = leaderboard(storage, name, top=args.top)
    failed = failures(storage, name)
    (HERE / "leaderboard.md").write_text(render(ranked, failed, "markdown"), encoding="utf-8")
    searched = ranked[ranked["baseline"].isna()]
    best = (searched if len(searched) else ranked).iloc[0]
    save_png(figure_for(best["id"], storage=storage), HERE / "show-best.png")
    done = leaderboard(storage, name)
    ids = done[done["status"] == "ok"]["id"].tolist()
    save_png(compare_picture(ids, storage=storage).figure, HERE / "compare.png")
    commands += [f"actsearch leaderboard --name {name} --top {args.top} --format markdown",
                 f"actsearch show {best['id']} --out docs/show-best.png",
                 f"actsearch show --compare {' '.join(ids)} --out docs/compare.png"]
    (HERE / "README-snippet.md").write_text("```\n" + "\n".join(commands) + "\n```\n", encoding="utf-8")
    print(f"wrote docs/leaderboard.md, docs/show-best.png, docs/compare.png (best: {best['id']} {best['formula']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
