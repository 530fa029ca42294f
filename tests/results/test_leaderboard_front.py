"""The leaderboard's cost column and its Pareto front (``leaderboard --front``, the report's picture)."""

from __future__ import annotations

import pytest

import actsearch
from actsearch import cli
from actsearch.result import Result
from actsearch.results.leaderboard import leaderboard
from actsearch.store import Store

#: formula -> (its cost, counted by hand: see tests/symbolic/test_cost.py, score)
POINTS = {
    "relu(x)": (1, 0.80),
    "x**5": (3, 0.70),                       # dearer and worse than relu: off the front
    "x/(1 + abs(x))": (6, 0.82),
    "x*sigmoid(x)": (9, 0.85),
    "x - tanh(x)": (9, 0.85),                # the same point as x*sigmoid(x): both on it
    "x**2*tanh(x)": (10, 0.84),              # dearer and worse than x*sigmoid(x)
    "gelu(x) + sin(x)*exp(x)": (30, 0.90),
}
FRONT = ["relu(x)", "x/(1 + abs(x))", "x*sigmoid(x)", "x - tanh(x)", "gelu(x) + sin(x)*exp(x)"]


def _record(search, text, score, status="ok"):
    c = actsearch.parse(text)
    search.record(Result(key=c.key, text=c.text, family="custom", status=status, score=score, task="digits",
                         metric="val_accuracy", seed_scores=[] if score is None else [score],
                         fingerprint=c.fingerprint(), message="" if status == "ok" else "boom"))


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = Store(url).open_search("costs", {"task": "digits", "epochs": 3, "seeds": 1})
    for text, (_, score) in POINTS.items():
        _record(s, text, score)
    _record(s, "x*cos(x)", 0.99, status="pruned")       # scored at a lower budget: never on the front
    _record(s, "exp(exp(x))", None, status="nan")
    # a --mode min search: the loss is lower-is-better, so the front mirrors
    m = Store(url).open_search("losses", {"task": "digits", "epochs": 3, "seeds": 1, "mode": "min"})
    for text, (_, score) in POINTS.items():
        _record(m, text, 1.0 - score)
    return url


def _text(t):
    return actsearch.parse(t).text


def test_cost_column_holds_the_formula_cost(store):
    df = leaderboard(store, "costs")
    costs = dict(zip(df["formula"], df["cost"]))
    for text, (cost, _) in POINTS.items():
        assert costs[_text(text)] == cost


@pytest.mark.parametrize("name", ["costs", "losses"])
def test_front_is_the_non_dominated_rows_cheapest_first(store, name):
    df = leaderboard(store, name, front=True)
    assert sorted(df["formula"]) == sorted(_text(t) for t in FRONT)
    assert df["cost"].tolist() == sorted(df["cost"])
    assert df["front"].all()
    full = leaderboard(store, name)
    # the ranks shown are the full leaderboard's
    assert dict(zip(df["formula"], df["rank"])) == {f: r for f, r in zip(full["formula"], full["rank"])
                                                    if f in set(df["formula"])}
    assert not full[~full["formula"].isin(df["formula"])]["front"].any()
    assert len(leaderboard(store, name, front=True, top=2)) == 2


def test_cli_prints_the_front_with_its_cost(store, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["leaderboard"])
    assert cli.main(["leaderboard", "--storage", store, "--name", "costs", "--front", "--format", "csv",
                     "--no-legend"]) == 0
    out = capsys.readouterr().out
    import io

    import pandas as pd

    back = pd.read_csv(io.StringIO(out))
    assert back["formula"].tolist()[0] == "relu(x)" and len(back) == len(FRONT)
    assert cli.main(["leaderboard", "--storage", store, "--name", "costs", "--front", "--wide"]) == 0
    table = capsys.readouterr().out
    assert "cost" in table and _text("x**5") not in table and "x*cos(x)" not in table


def test_front_of_a_search_with_nothing_completed_is_one_clear_line(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    s = Store(url).open_search("broken", {"task": "digits", "epochs": 3, "seeds": 1})
    _record(s, "exp(exp(x))", None, status="nan")
    _record(s, "x*cos(x)", 0.9, status="pruned")
    monkeypatch.setattr(cli, "COMMAND_MODULES", ["leaderboard"])
    assert cli.main(["leaderboard", "--storage", url, "--front"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--front" in err[0] and "'broken'" in err[0] and "Traceback" not in err[0]


def test_report_draws_score_against_cost_with_the_front(store, tmp_path, monkeypatch):
    from actsearch.results import plots
    from actsearch.results.report import write_report

    drawn = []
    real = plots.front_figure
    monkeypatch.setattr(plots, "front_figure", lambda points, *a, **k: drawn.append(points) or real(points, *a, **k))
    page = write_report(tmp_path / "rep", "costs", storage=store).read_text()
    assert "Score against cost" in page and f"{len(FRONT)} of {len(POINTS)} completed" in page
    (points,) = drawn
    # every completed candidate once, the pruned one left out, the front flagged as leaderboard --front says
    assert sorted(p[0].split(" [")[0] for p in points) == sorted(_text(t) for t in POINTS)
    assert sorted(p[0].split(" [")[0] for p in points if p[3]) == sorted(_text(t) for t in FRONT)
    assert all(p[1] == POINTS[next(t for t in POINTS if _text(t) == p[0].split(" [")[0])][0] for p in points)


def test_front_figure_labels_the_front(tmp_path):
    from actsearch.results.plots import front_figure, save_png

    fig = front_figure([("relu(x)", 1, 0.8, True), ("x**5", 3, 0.7, False), ("gelu(x)", 12, 0.9, True),
                        ("x*erf(x)", 12, 0.9, True)])
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels == ["relu(x)", "gelu(x) / x*erf(x)"]  # one label for candidates at one point
    assert save_png(fig, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_after_a_pareto_search_the_printed_leaderboard_is_its_front(tmp_path, capsys):
    from actsearch.commands import print_leaderboard

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for name, objective in (("by-score", "score"), ("by-front", "pareto")):
        s = Store(url).open_search(name, {"task": "digits", "epochs": 3, "seeds": 1, "objective": objective})
        for text, (_, score) in POINTS.items():
            _record(s, text, score)
    print_leaderboard("by-front", url, top=2)
    out = capsys.readouterr().out
    assert f"the Pareto front of score against cost: {len(FRONT)} of {len(POINTS)} completed" in out
    assert all(_text(t) in out for t in FRONT) and _text("x**2*tanh(x)") not in out
    print_leaderboard("by-score", url, top=2)
    out = capsys.readouterr().out
    assert "Pareto" not in out and _text("x/(1 + abs(x))") not in out  # rank 5: past the top 2


def test_a_narrow_front_table_keeps_its_cost_column(store):
    from actsearch.results.leaderboard import render

    front = leaderboard(store, "costs", front=True)
    full = leaderboard(store, "costs")
    header = lambda text: text.splitlines()[0].split()  # noqa: E731
    assert "cost" in header(render(front, width=80))
    assert "cost" not in header(render(full, width=80))  # a ranked table gives it up for the formula
