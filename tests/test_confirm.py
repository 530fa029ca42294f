"""Confirmation on fresh seeds: what is re-trained, on which seeds, and how it is refused."""

from __future__ import annotations

import contextlib
import io

import pytest

import actsearch
from actsearch.cli import main
from actsearch.confirm import confirm, pick_top
from actsearch.leaderboard import leaderboard
from actsearch.result import Result
from actsearch.store import Store

SEARCH_SEEDS = 2
FRESH = 2


@pytest.fixture(scope="module")
def confirmed(ray_session, tmp_path_factory):
    """``actsearch search ... --confirm 2``: references and two formulas of the user's own
    (so the top 2 are sure to hold two non-references), then their confirmation."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("confirm") / "c.db")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["search", "--task", "mnist1d-mlp", "--space", "grammar", "--budget", "5", "--epochs", "2",
                     "--seeds", str(SEARCH_SEEDS), "--seed", "3", "--candidates", "x*tanh(x)", "x + sin(x)",
                     "--name", "src", "--storage", url, "--confirm", "2", "--confirm-seeds", str(FRESH)])
    assert code == 0, out.getvalue()
    return url, out.getvalue()


def test_confirmation_retrains_the_top_and_the_references_on_fresh_seeds(confirmed):
    url, _ = confirmed
    store = Store(url)
    source = store.results("src")
    expected = {c.fingerprint() for c in pick_top(source, 2)}
    expected |= {actsearch.preset(r).fingerprint() for r in ("relu", "gelu", "silu")}
    assert store.search("src-confirm").state == "finished"
    results = store.results("src-confirm")
    assert {r.extra["fingerprint"] for r in results} == expected and len(results) == len(expected)
    for r in results:
        assert r.status == "ok" and not r.extra.get("reused_from")
        assert r.extra["first_seed"] == 3 + SEARCH_SEEDS  # right after the search's seeds 3, 4
        assert len(r.seed_scores) == FRESH and len(r.curves) == FRESH and len(r.curves[0]) == 2
    config = store.search("src-confirm").config
    assert config["confirms"] == "src" and config["seed"] == 5 and config["early_stop"] is False


def test_confirmation_leaderboard_compares_seed_by_seed(confirmed):
    url, printed = confirmed
    df = leaderboard(url, "src-confirm", against="relu")
    searched = df[df["baseline"].isna()]
    assert len(searched) == 2
    store = Store(url)
    relu = next(r.seed_scores for r in store.results("src-confirm") if r.extra.get("name") == "relu")
    for _, row in searched.iterrows():
        mine = next(r.seed_scores for r in store.results("src-confirm") if r.text == row["formula"])
        assert row["wins"] == f"{sum(a > b for a, b in zip(mine, relu))}/{FRESH}"
    # the search's leaderboard, then the confirmation's with its paired columns
    first, _, second = printed.partition("confirming the 2 best on 2 fresh seeds:")
    assert "src:" in first and "src-confirm:" in second and "wins" in second


def test_pick_top_skips_references_failures_and_repeats():
    def res(text, score, status="ok"):
        return Result(key=text, text=actsearch.parse(text).text, status=status, score=score)

    results = [res("relu(x)", 0.99), res("x*tanh(x)", 0.9), res("tanh(x)*x", 0.95), res("abs(x)", 0.97, "pruned"),
               res("x + sin(x)", 0.8), res("exp(exp(x))", None, "nan"), res("softplus(x)", 0.7)]
    assert [c.text for c in pick_top(results, 2)] == [actsearch.parse("x*tanh(x)").text, "x + sin(x)"]


def test_refusals_are_one_line_errors(confirmed, capsys, monkeypatch, tmp_path):
    import actsearch.cli

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["confirm"])
    url, _ = confirmed
    cases = [
        (["src", "--first-seed", "4", "--storage", url], "overlap the seeds search 'src' trained with (3..4)"),
        (["src", "--seeds", "1", "--storage", url], "at least 2 seeds"),
        (["src", "--storage", url], "already exists"),
        (["src-confirm", "--storage", url], "is itself a confirmation"),
        (["nosuch", "--storage", url], "no search named 'nosuch'"),
        (["src", "--storage", "sqlite:///" + str(tmp_path / "missing.db")], "no results store"),
        (["src", "--against", "tanh", "--storage", url], "'tanh' is not a reference"),
    ]
    for argv, needle in cases:
        assert main(["confirm", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "missing.db").exists()
