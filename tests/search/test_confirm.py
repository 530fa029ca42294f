"""Confirmation on fresh seeds: what is re-trained, on which seeds, and how it is refused."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

import actsearch
from actsearch.cli import main
from actsearch.search.confirm import confirm, pick_top
from actsearch.results.leaderboard import leaderboard
from actsearch.result import Result
from actsearch.store import Store
from actsearch.store.view import StoreView

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
    entries = {e.id: e for e in StoreView(url).entries(["src"])}
    expected = {c.fingerprint() for c in pick_top(leaderboard(url, "src"), entries, 2)}
    expected |= {actsearch.preset(r).fingerprint() for r in ("relu", "gelu", "silu")}
    assert store.search("src-confirm").state == "finished"
    results = store.results("src-confirm")
    assert {r.fingerprint for r in results} == expected and len(results) == len(expected)
    for r in results:
        assert r.status == "ok" and not r.reused_from
        assert r.first_seed == 3 + SEARCH_SEEDS  # right after the search's seeds 3, 4
        assert len(r.seed_scores) == FRESH and len(r.curves) == FRESH and len(r.curves[0]) == 2
    config = store.search("src-confirm").config
    assert config["confirms"] == "src" and config["seed"] == 5 and config["early_stop"] is False


def test_confirmation_leaderboard_compares_seed_by_seed(confirmed):
    url, printed = confirmed
    df = leaderboard(url, "src-confirm", against="relu")
    searched = df[df["baseline"].isna()]
    assert len(searched) == 2
    store = Store(url)
    relu = next(r.seed_scores for r in store.results("src-confirm") if r.name == "relu")
    for _, row in searched.iterrows():
        mine = next(r.seed_scores for r in store.results("src-confirm") if r.text == row["formula"])
        assert row["wins"] == f"{sum(a > b for a, b in zip(mine, relu))}/{FRESH}"
    # each row keeps the id and score it had in the search
    source = {e.id: e.result for e in StoreView(url).entries(["src"])}
    for _, row in searched.iterrows():
        assert source[row["search_id"]].fingerprint == actsearch.parse(row["formula"]).fingerprint()
        assert row["search_score"] == pytest.approx(source[row["search_id"]].score)
    # the search's leaderboard, then the confirmation's with its paired columns, the legend and a verdict each
    first, _, second = printed.partition("confirming the 2 best on 2 fresh seeds:")
    assert "src:" in first and "src-confirm:" in second and "wins" in second and "p holm" in second
    assert "p holm: p corrected for the candidates tested together (Holm)" in second
    verdict_lines = [ln for ln in second.splitlines() if re.match(r"  \S.* src:\d+ \d\.\d{4} -> src-confirm:\d+ ", ln)]
    assert len(verdict_lines) == 2 and all("confirmed" in ln or "CONFIRMED" in ln for ln in verdict_lines)
    assert "warning: 2 fresh seeds: a paired test on fewer than 5" in second


def test_pick_top_follows_the_leaderboard_converged_first(tmp_path):
    url = "sqlite:///" + str(tmp_path / "top.db")
    s = Store(url).open_search("src", {"task": "digits", "epochs": 2, "seeds": 1, "seed": 0})

    def res(text, score, status="ok", loss=0.02, name=""):
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, status=status, score=score, name=name, fingerprint=c.fingerprint(),
                        task="digits", loss_curves=[[1.0, loss]] if score is not None else [], epochs=2))

    res("relu(x)", 0.99, name="relu")
    res("x*tanh(x)", 0.9)
    res("x**2*softsign(x)", 0.97, loss=0.6)  # the best score, but its training loss stays far above relu's
    res("abs(x)", 0.98, "pruned")
    res("x + sin(x)", 0.8, name="mine")
    res("exp(exp(x))", None, "nan")
    res("softplus(x)", 0.7)
    entries = {e.id: e for e in StoreView(url).entries(["src"])}
    top = pick_top(leaderboard(url, "src"), entries, 4)
    assert [c.text for c in top] == ["x*tanh(x)", "x + sin(x)", "softplus(x)", "x**2*softsign(x)"]
    assert top[1].name == "mine"  # the stored candidate, name and all


def test_verdicts_say_what_held_up(tmp_path):
    from actsearch.results.verdicts import verdicts

    url = "sqlite:///" + str(tmp_path / "v.db")
    src = Store(url).open_search("src", {"task": "digits", "epochs": 2, "seeds": 1, "seed": 0})
    conf = Store(url).open_search("src-confirm", {"task": "digits", "epochs": 2, "seeds": 5, "seed": 1,
                                                  "confirms": "src"})

    def rec(search, text, scores, loss=0.02, first_seed=0):
        c = actsearch.parse(text)
        search.record(Result(key=c.key, text=c.text, score=sum(scores) / len(scores), seed_scores=scores,
                             fingerprint=c.fingerprint(), task="digits", loss_curves=[[1.0, loss]] * len(scores),
                             epochs=2, seeds=len(scores), first_seed=first_seed))

    for text, score in (("relu(x)", 0.6), ("x*tanh(x)", 0.68), ("x - sin(x)", 0.66), ("x*erf(x)", 0.7)):
        rec(src, text, [score])
    relu = [0.60, 0.61, 0.62, 0.60, 0.61]
    rec(conf, "relu(x)", relu, first_seed=1)
    rec(conf, "x*tanh(x)", [v + 0.03 for v in relu[:4]] + [relu[4] + 0.031], first_seed=1)  # every seed, by 0.03
    rec(conf, "x - sin(x)", [0.62, 0.60, 0.63, 0.59, 0.64], first_seed=1)  # a little above, by chance
    rec(conf, "x*erf(x)", [v + 0.05 for v in relu], loss=0.9, first_seed=1)  # above, but cannot fit its data
    found = {v.formula: v for v in verdicts(leaderboard(url, "src-confirm"))}
    assert set(found) == {"x*tanh(x)", "x - sin(x)", "x*erf(x)"}
    win = found["x*tanh(x)"]
    assert win.confirmed and win.search_id == "src:1" and win.search_score == pytest.approx(0.68)
    from actsearch.results.statistics import holm

    pvalues = [found[t].p for t in ("x*tanh(x)", "x - sin(x)", "x*erf(x)")]
    assert [found[t].p_holm for t in ("x*tanh(x)", "x - sin(x)", "x*erf(x)")] == pytest.approx(holm(pvalues))
    assert "src:1 0.6800 -> src-confirm:1 0." in win.line() and win.line().endswith("CONFIRMED")
    chance = found["x - sin(x)"]
    assert not chance.confirmed and "could be chance" in chance.reason and chance.p_holm >= chance.p
    assert not found["x*erf(x)"].confirmed and "did not converge" in found["x*erf(x)"].reason


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
        (["src", "--resume", "--top", "1", "--storage", url], "--top 1: it was started with 2"),
        (["src", "--resume", "--name", "nosuch", "--storage", url], "cannot resume confirmation 'nosuch'"),
    ]
    for argv, needle in cases:
        assert main(["confirm", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err, err
    assert not (tmp_path / "missing.db").exists()
    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search"])
    for argv, needle in ((["--confirm-seeds", "3"], "need --confirm K"),
                         (["--confirm", "2", "--seed", "3", "--confirm-first-seed", "3"], "overlap the seeds")):
        assert main(["search", "--storage", url, *argv]) == 2  # refused before any training
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err, err


def test_a_finished_confirmation_resumes_to_nothing_more(confirmed, capsys, monkeypatch):
    import actsearch.cli

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["confirm"])
    url, _ = confirmed
    before = len(Store(url).results("src-confirm"))
    assert main(["confirm", "src", "--resume", "--storage", url]) == 0
    assert len(Store(url).results("src-confirm")) == before
    assert "wins" in capsys.readouterr().out


def _source(url, **config):
    """A finished search with two scored candidates and relu, without training anything."""
    s = Store(url).open_search("src", {"task": "digits", "task_name": "digits", "epochs": 2, "seeds": 1, "seed": 0,
                                       "references": ["relu"], **config})
    for text, score in (("relu(x)", 0.5), ("x*tanh(x)", 0.7), ("x + sin(x)", 0.6)):
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, score=score, seed_scores=[score],
                        task="digits", fingerprint=c.fingerprint()))
    return s


def test_confirm_scales_the_time_limit_and_resumes_what_it_started(tmp_path, monkeypatch):
    import actsearch.search.confirm as confirm_module
    from actsearch.search.config import SearchConfig, resume_config

    calls = []

    def fake_run_search(progress=None, **options):
        """What run_search would train: the config it builds (a resume from the store)."""
        store = Store(options["storage"])
        if options.get("resume"):
            config = resume_config(store.search(options["name"]).config, options)
        else:
            config = SearchConfig(**options)
            store.open_search(config.name, config.stored(task_spec=config.task, epochs=config.epochs or 1,
                                                         metric="val_accuracy"))
        calls.append(config)

    def texts(config):
        return [c if isinstance(c, str) else c.text for c in config.candidates]

    monkeypatch.setattr(confirm_module, "run_search", fake_run_search)
    url = "sqlite:///" + str(tmp_path / "u.db")
    _source(url, trial_timeout=60.0)
    confirm("src", top=2, seeds=4, storage=url)
    first = calls[-1]
    assert first.trial_timeout == pytest.approx(240.0)  # 60 s for 1 seed -> 240 s for 4
    assert first.seed == 1 and first.seeds == 4 and first.early_stop is False
    assert texts(first) == ["x*tanh(x)", "x + sin(x)"]
    assert first.references == ("relu",) and first.budget == 3 and first.optimizer is None
    confirm("src", resume=True, storage=url)  # nothing repeated: the stored seeds and candidates
    again = calls[-1]
    assert again.resume and again.seed == 1 and again.seeds == 4 and again.trial_timeout == pytest.approx(240.0)
    assert texts(again) == ["x*tanh(x)", "x + sin(x)"]
    confirm("src", resume=True, storage=url, trial_timeout=5.0)
    assert calls[-1].trial_timeout == 5.0
    # fresh data as well as fresh seeds: the option is kept when the confirmation resumes
    confirm("src", top=1, storage=url, name="new-data", task_options={"data_seed": "1"})
    assert calls[-1].task_options == {"data_seed": "1"} and calls[-1].task == "digits"
    confirm("src", resume=True, storage=url, name="new-data")
    assert calls[-1].task_options == {"data_seed": "1"}
    for kwargs, needle in (({"top": 1}, "--top 1: it was started with 2"),
                           ({"seeds": 5}, "--seeds 5: it was started with 4"),
                           ({"first_seed": 9}, "--first-seed 9: it was started with 1"),
                           ({"name": "other"}, "cannot resume confirmation 'other'"),
                           ({"task_options": {"data_seed": "2"}}, "task_options")):
        with pytest.raises(actsearch.ActsearchError, match=re.escape(needle)):
            confirm("src", resume=True, storage=url, **kwargs)


def test_a_pareto_search_confirms_its_front_best_score_first(tmp_path):
    url = "sqlite:///" + str(tmp_path / "front.db")
    s = Store(url).open_search("src", {"task": "digits", "epochs": 2, "seeds": 1, "seed": 0, "objective": "pareto"})

    def res(text, score, loss=0.02, name=""):
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, score=score, name=name, fingerprint=c.fingerprint(), task="digits",
                        loss_curves=[[1.0, loss]], epochs=2))

    # costs (symbolic/cost.py): relu 1, softplus 8, x*tanh(x) 9, x + sin(x) 9, x**2*softsign(x) 8
    res("relu(x)", 0.5, name="relu")
    res("x*tanh(x)", 0.9)
    res("x + sin(x)", 0.8)  # as costly as x*tanh(x) and scores lower: off the front
    res("softplus(x)", 0.7)
    res("x**2*softsign(x)", 0.95, loss=0.6)  # does not converge: on no front
    entries = {e.id: e for e in StoreView(url).entries(["src"])}
    ranked = leaderboard(url, "src")
    assert [c.text for c in pick_top(ranked, entries, 3, front=True)] == ["x*tanh(x)", "softplus(x)"]
    assert [c.text for c in pick_top(ranked, entries, 3)] == ["x*tanh(x)", "x + sin(x)", "softplus(x)"]
