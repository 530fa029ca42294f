"""Leaderboards and reports read from a store filled with synthetic results."""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3

import numpy as np
import pandas as pd
import pytest
import torch

import actsearch
from actsearch import StoreError
from actsearch import cli
from actsearch.results.export import load
from actsearch.results.leaderboard import failures, leaderboard, render
from actsearch.results.report import write_report
from actsearch.result import Result
from actsearch.store import Store

MY_COMMANDS = ["leaderboard", "show", "export", "report"]

SEARCHED = [
    "x*tanh(softplus(x))",
    "relu(x) + eps*x*exp(-x**2/2); eps=0.01",
    "(a0 + a1*x)/(1 + abs(b1)*abs(x)); a0=0.1, a1=0.9, b1=0.2",
    "x*erf(x)",
    "max(x, 0.1*x)",
    "softplus(x) - 0.5",
    "x*sigmoid(a*x); a=1.5",
    "w*x + relu(x); w=0.05",
]
FAILED = [("exp(exp(x))", "nan", "NaN loss at epoch 2"), ("x**8", "diverged", "loss above 1e6 at step 40")]


@pytest.fixture
def commands(monkeypatch):
    """``main`` with only this suite's commands, so it runs without the others' modules."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", MY_COMMANDS)
    return cli.main


def _record(search, text, score, task="digits", status="ok", spread=None, message="", learned=(), extra=None):
    c = actsearch.parse(text)
    seeds = [] if score is None else [score - (spread or 0.0), score + (spread or 0.0)]
    more = {"task": task, "fingerprint": c.fingerprint(), **(extra or {})}
    search.record(
        Result(
            key=c.key, text=c.text, family="custom", status=status, score=score, metric="val_accuracy",
            seed_scores=seeds, spread=spread if spread is not None else 0.0,
            curves=[] if score is None else [[0.2, 0.5, score], [0.25, 0.55, score]],
            learned_params=list(learned), message=message, **more,
        )
    )


@pytest.fixture
def store(tmp_path):
    """Search 'first' on two tasks with references and failures; 'second' later on digits."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    rng = np.random.default_rng(3)
    first = Store(url).open_search("first", {"task": "digits", "epochs": 3, "seeds": 2})
    truth = {}
    for ref, score in (("relu(x)", 0.80), ("gelu(x)", 0.83), ("x*sigmoid(x)", 0.82)):
        _record(first, ref, score, spread=0.01)
        truth[ref] = score
    for text in SEARCHED:
        score = float(rng.uniform(0.7, 0.9))
        learned = [{"eps": 0.02}, {"eps": -0.03}] if "eps" in text else ()
        _record(first, text, score, spread=float(rng.uniform(0, 0.02)), learned=learned)
        truth[actsearch.parse(text).text] = score
    for text, status, message in FAILED:
        _record(first, text, None, status=status, message=message)
    _record(first, "x*cos(x)", 0.95, status="pruned")
    # another task: its gain is measured against its own references only
    _record(first, "relu(x)", 0.50, task="mnist1d-mlp")
    _record(first, "x*erf(x)", 0.55, task="mnist1d-mlp")
    second = Store(url).open_search("second", {"task": "digits", "epochs": 3, "seeds": 2})
    _record(second, "relu(x)", 0.80, extra={"reused_from": "first"})
    _record(second, "sin(x) + x", 0.99)
    return url, truth


def test_ranking_matches_store_values(store):
    url, truth = store
    df = leaderboard(url, "first", task="digits")
    ok = df[df["status"] == "ok"]
    # independent ranking: the recorded scores sorted by hand
    expected = sorted(truth, key=lambda t: -truth[t])
    assert ok["formula"].tolist() == expected
    assert ok["score"].tolist() == pytest.approx([truth[t] for t in expected])
    assert ok["rank"].tolist() == list(range(1, len(expected) + 1))
    # pruned candidates (scored at a lower budget) rank after every completed one
    assert df.iloc[-1]["status"] == "pruned" and df.iloc[-1]["formula"] == "x*cos(x)"
    assert math.isnan(df.iloc[-1]["gain"])  # scored at a lower budget: no gain claimed
    best_ref = max(truth["relu(x)"], truth["gelu(x)"], truth["x*sigmoid(x)"])
    for _, row in ok.iterrows():
        assert row["gain"] == pytest.approx(truth[row["formula"]] - best_ref)
        assert row["gain_vs"] == "gelu"
        assert row["params"] == len(actsearch.parse(row["formula"]).params)
        assert math.isnan(row["kernel_ms"])
    baselines = dict(zip(ok["formula"], ok["baseline"]))
    assert baselines["x*sigmoid(x)"] == "silu" and baselines["relu(x)"] == "relu"
    assert all(isinstance(r["id"], str) and re.fullmatch(r"first:\d+", r["id"]) for _, r in df.iterrows())


def test_gain_is_per_task_and_filters(store):
    url, _ = store
    other = leaderboard(url, "first", task="mnist1d-mlp")
    assert other["formula"].tolist() == ["x*erf(x)", "relu(x)"]
    assert other["gain"].tolist() == pytest.approx([0.05, 0.0])
    assert len(leaderboard(url, "first", task="digits", top=3)) == 3
    # default: the latest search; --all skips copies reused from an earlier search
    assert leaderboard(url)["formula"].tolist() == [actsearch.parse("sin(x) + x").text, "relu(x)"]
    every = leaderboard(url, all=True)
    assert every.iloc[0]["formula"] == actsearch.parse("sin(x) + x").text
    assert (every["search"] == "second").sum() == 1
    assert leaderboard(url, "second").iloc[0]["gain"] == pytest.approx(0.99 - 0.80)


def test_failures_listed_with_reasons(store):
    url, _ = store
    failed = failures(url, "first")
    assert sorted(zip(failed["formula"], failed["status"], failed["reason"])) == sorted(
        (actsearch.parse(t).text, s, m) for t, s, m in FAILED
    )
    assert not set(failed["formula"]) & set(leaderboard(url, "first")["formula"])


def test_csv_and_json_parse_back(store, commands, capsys):
    url, truth = store
    assert commands(["leaderboard", "--storage", url, "--name", "first", "--task", "digits", "--format", "csv"]) == 0
    back = pd.read_csv(io.StringIO(capsys.readouterr().out))
    direct = leaderboard(url, "first", task="digits")
    assert back["id"].tolist() == direct["id"].tolist()
    assert back["score"].tolist() == pytest.approx(direct["score"].tolist())
    for text in back["formula"]:
        actsearch.parse(text)  # canonical text reads back
    assert commands(["leaderboard", "--storage", url, "--name", "first", "--format", "json", "--top", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in data["ranked"]] == [1, 2, 3, 4]
    assert [r["score"] for r in data["ranked"]] == pytest.approx(direct["score"].tolist()[:4])
    assert {r["status"] for r in data["failed"]} == {"nan", "diverged"}
    assert all(r["kernel_ms"] is None for r in data["ranked"])


def test_table_and_markdown(store, commands, capsys):
    url, _ = store
    assert commands(["leaderboard", "--storage", url, "--name", "first"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["rank", "id", "formula"]
    assert "failed (2):" in out and "NaN loss at epoch 2" in out and "[gelu]" in out
    md = render(leaderboard(url, "first"), failures(url, "first"), "markdown")
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and ln[2].isdigit()]
    assert len(rows) == len(leaderboard(url, "first"))


def test_bad_stores_give_one_line_errors(tmp_path, commands, capsys):
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    with pytest.raises(StoreError, match="no results store"):
        leaderboard(missing)
    assert not (tmp_path / "nope.db").exists()  # reading never creates a database
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("create table people (name text)")
    for url in (missing, f"sqlite:///{foreign}"):
        assert commands(["leaderboard", "--storage", url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("actsearch: error:") and len(err.strip().splitlines()) == 1
    # an Optuna database without actsearch searches
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plain = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="someone-else", storage=plain)
    with pytest.raises(StoreError, match="no actsearch search"):
        leaderboard(plain)


def test_unknown_search_and_trial(store):
    url, _ = store
    with pytest.raises(StoreError, match="no search named 'zzz'"):
        leaderboard(url, "zzz")
    with pytest.raises(StoreError, match="no trial 999"):
        load("first:999", storage=url)


def test_export_and_load_from_store(store, tmp_path, commands, capsys):
    url, truth = store
    row = leaderboard(url, "first").query("formula.str.contains('eps')").iloc[0]
    out = tmp_path / "winner.py"
    assert commands(["export", row["id"], "--storage", url, "--out", str(out), "--learned"]) == 0
    text = out.read_text()
    assert f"search 'first', trial {row['id'].split(':')[1]}" in text
    assert f"{truth[row['formula']]:.4f}" in text
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    for layer, eps in enumerate([0.02, -0.03]):
        act = load(out, layer=layer, dtype=torch.float64)
        expected = torch.relu(x) + eps * x * torch.exp(-x * x / 2)
        torch.testing.assert_close(act(x), expected)
        torch.testing.assert_close(load(row["id"], storage=url, learned=True, layer=layer).double()(x), expected,
                                   rtol=1e-6, atol=1e-7)
    # by candidate key: the same trial
    assert load(row["key"], storage=url).candidate.text == row["formula"]


@pytest.mark.slow
def test_report_is_self_contained(store, tmp_path, commands, capsys):
    url, _ = store
    assert commands(["report", "--storage", url, "--name", "first", "--out", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("data:image/png;base64,") >= 4  # progress + three best candidates
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing fetched from outside
    assert "x*tanh(softplus(x))" in page and "NaN loss at epoch 2" in page
    csv = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    assert csv["id"].tolist() == leaderboard(url, "first")["id"].tolist()
    assert write_report(tmp_path / "rep2", "first", storage=url).exists()


# -- seed-by-seed comparison with the best reference --------------------------------
def _seeded(search, text, seed_scores, first_seed=0, task="digits", epochs=3):
    c = actsearch.parse(text)
    mean = float(np.mean(seed_scores))
    search.record(Result(key=c.key, text=c.text, status="ok", score=mean, seed_scores=list(seed_scores),
                         spread=float(np.std(seed_scores)),
                         task=task, fingerprint=c.fingerprint(), first_seed=first_seed,
                         seeds=len(seed_scores), epochs=epochs))


def _one_sided_paired_p(a, b):
    """The paired t-test written out: t = mean(d) / (sd(d)/sqrt(n)), P(T_{n-1} > t)."""
    from scipy.stats import t as student_t

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    stat = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return float(student_t.sf(stat, len(d) - 1))


def test_wins_and_paired_p_against_the_reference_on_the_same_seeds(tmp_path):
    url = f"sqlite:///{tmp_path / 'paired.sqlite'}"
    s = Store(url).open_search("confirmation", {"task": "digits", "epochs": 3, "seeds": 5, "seed": 1})
    relu = [0.60, 0.62, 0.61, 0.63, 0.59]
    better = [0.64, 0.66, 0.60, 0.67, 0.65]
    worse = [0.58, 0.61, 0.60, 0.64, 0.55]
    _seeded(s, "relu(x)", relu, first_seed=1)
    _seeded(s, "x - sin(x)", better, first_seed=1)
    _seeded(s, "x*tanh(x)", worse, first_seed=1)
    _seeded(s, "abs(x)", better, first_seed=9)  # other seeds: no pairing possible
    _seeded(s, "softplus(x)", [0.7], first_seed=1)  # one seed: nothing to test
    gelu = [0.66, 0.67, 0.65, 0.68, 0.66]
    _seeded(s, "gelu(x)", gelu, first_seed=1)
    best = leaderboard(url).set_index("formula")  # against the best reference, gelu
    assert best.loc["x - sin(x)", "wins"] == "0/5"
    assert best.loc["x - sin(x)", "gain"] == pytest.approx(np.mean(better) - np.mean(gelu))
    assert best.loc["x - sin(x)", "p"] == pytest.approx(_one_sided_paired_p(better, gelu), rel=1e-9)
    df = leaderboard(url, against="relu").set_index("formula")
    assert df.loc["x - sin(x)", "wins"] == "4/5"
    assert df.loc["x - sin(x)", "p"] == pytest.approx(_one_sided_paired_p(better, relu), rel=1e-9)
    assert df.loc["x*tanh(x)", "wins"] == "1/5"
    assert df.loc["x*tanh(x)", "p"] == pytest.approx(_one_sided_paired_p(worse, relu), rel=1e-9)
    assert df.loc["x*tanh(x)", "p"] > 0.5 > df.loc["x - sin(x)", "p"]
    for formula in ("abs(x)", "softplus(x)"):
        assert pd.isna(df.loc[formula, "wins"]) and math.isnan(df.loc[formula, "p"])
    relu_row = df[df["baseline"] == "relu"].iloc[0]
    assert pd.isna(relu_row["wins"]) and math.isnan(relu_row["p"])
    assert df[df["baseline"] == "gelu"].iloc[0]["wins"] == "5/5"
    with pytest.raises(actsearch.ActsearchError, match="'tanh' is not a reference"):
        leaderboard(url, against="tanh")
    page = write_report(tmp_path / "rep", "confirmation", storage=url).read_text()
    assert re.search(r"<code>x - sin\(x\)</code></td>(?:<td[^>]*>[^<]*</td>){3}<td>0/5</td><td class=\"num\">0\.\d{3}</td>", page, re.S), page
    text = render(leaderboard(url, against="relu"))
    assert re.search(r"x - sin\(x\)\s+custom\s+\S+ ± \S+\s+\+0\.0\d+\s+4/5\s+0\.0\d\d", text), text



def test_constant_differences_give_a_decided_p_without_warnings(tmp_path):
    import warnings

    url = f"sqlite:///{tmp_path / 'const.sqlite'}"
    s = Store(url).open_search("c", {"task": "digits", "epochs": 3, "seeds": 3, "seed": 0})
    _seeded(s, "relu(x)", [0.85, 0.75, 0.65])
    _seeded(s, "x - sin(x)", [0.9, 0.8, 0.7])  # +0.05 on each seed, up to float rounding
    _seeded(s, "x*tanh(x)", [0.8, 0.7, 0.6])  # -0.05 on each seed
    _seeded(s, "softplus(x)", [0.85, 0.75, 0.65])  # ties on every seed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = leaderboard(url).set_index("formula")
    assert df.loc["x - sin(x)", "p"] == 0.0 and df.loc["x - sin(x)", "wins"] == "3/3"
    assert df.loc["x*tanh(x)", "p"] == 1.0 and df.loc["x*tanh(x)", "wins"] == "0/3"
    assert math.isnan(df.loc["softplus(x)", "p"]) and df.loc["softplus(x)", "wins"] == "0/3"


def test_all_searches_pair_only_runs_of_the_same_epochs(tmp_path):
    url = f"sqlite:///{tmp_path / 'epochs.sqlite'}"
    short = Store(url).open_search("short", {"task": "digits", "epochs": 5, "seeds": 3, "seed": 0})
    _seeded(short, "relu(x)", [0.80, 0.81, 0.82], epochs=5)
    _seeded(short, "x*tanh(x)", [0.83, 0.82, 0.84], epochs=5)
    long = Store(url).open_search("long", {"task": "digits", "epochs": 20, "seeds": 3, "seed": 0})
    _seeded(long, "relu(x)", [0.90, 0.91, 0.92], epochs=20)
    alone = leaderboard(url, "short").set_index("formula")
    together = leaderboard(url, all=True).set_index("formula")
    # the 20-epoch relu sets the gain, but seed by seed the 5-epoch candidate meets its own relu
    assert together.loc["x*tanh(x)", "gain"] == pytest.approx(0.83 - 0.91)
    assert together.loc["x*tanh(x)", "wins"] == alone.loc["x*tanh(x)", "wins"] == "3/3"
    assert together.loc["x*tanh(x)", "p"] == pytest.approx(alone.loc["x*tanh(x)", "p"])


# -- rows that must stay apart, stability of the last epochs, the report's best --------
RATIONAL = ("(a0 + a1*x + a2*x**2 + a3*x**3)/(1 + abs(b1)*abs(x) + abs(b2)*x**2); "
            "a0={a0}, a1=0.5, a2=0.3, a3=0.01, b1=0.2, b2=0.05")


def test_rational_candidates_print_their_template_once_and_the_values_that_differ(tmp_path, commands, capsys):
    url = f"sqlite:///{tmp_path / 'rational.sqlite'}"
    s = Store(url).open_search("rat", {"task": "digits", "epochs": 3, "seeds": 2})
    a0s = ["0.0211", "0.0234", "0.0291"]
    for i, a0 in enumerate(a0s):  # the same formula, only the initial a0 differs
        _record(s, RATIONAL.format(a0=a0), 0.9 - i / 100)
    _record(s, "relu(x)", 0.8)
    assert commands(["leaderboard", "--storage", url]) == 0
    out = capsys.readouterr().out
    df = leaderboard(url)
    expression = actsearch.parse(RATIONAL.format(a0=a0s[0])).text.split(";")[0]
    assert out.count(f"T1 = {expression}") == 1 and out.count(expression) == 1  # printed once, above the table
    rows = {line.split()[1]: line for line in out.splitlines() if re.match(r"\d+\s", line)}
    for _, row in df[df["baseline"].isna()].iterrows():
        a0 = actsearch.parse(row["formula"]).params["a0"]
        # the value that tells it apart is on its row; those they share are not
        assert re.search(rf"\sT1: a0={a0:.4g}\s", rows[row["id"]]), rows[row["id"]]
        assert "a1=" not in rows[row["id"]] and "b2=" not in rows[row["id"]]
    md = render(df, fmt="markdown")
    assert md.count(f"T1 = `{expression}`") == 1
    assert all(md.count(f"T1: a0={float(a0):.4g} ") == 1 for a0 in a0s)
    wide = render(df, wide=True)
    assert all(f"T1: a0={float(a0):.4g}" in wide for a0 in a0s)


def test_templates_show_only_the_parameters_that_differ():
    from actsearch.results.tables import templates

    texts = ["(a + x)/(1 + abs(b*x)); a=0.1, b=0.5", "(a + x)/(1 + abs(b*x)); a=0.2, b=0.5",
             "(a + x)/(1 + abs(b*x)); a=0.2, b=0.7", "c*x; c=1", "relu(x)"]
    found, cells = templates(texts)
    assert found == {"T1": "(a + x)/(1 + abs(b*x))"}
    assert cells == ["T1: a=0.1 b=0.5", "T1: a=0.2 b=0.5", "T1: a=0.2 b=0.7", "c*x; c=1", "relu(x)"]
    assert templates(["c*x; c=1", "c*x; c=1"])[0] == {}  # one function twice: nothing to tell apart


def test_short_forms_cut_only_what_is_too_long():
    from actsearch.results.tables import short_forms

    long_a = "x*tanh(x) + " + " + ".join(f"{k}*x**{k}" for k in range(2, 12))
    long_b = long_a.replace("11*x**11", "12*x**11")
    forms = short_forms(["relu(x)", long_a, long_a, long_b], width=40)
    assert forms[0] == "relu(x)"
    assert forms[1] == forms[2] != forms[3]  # the same text: the same form
    assert all(len(f) <= 40 for f in forms)
    assert forms[1].startswith(long_a[:16]) and forms[1].endswith("11*x**11")
    assert forms[3].endswith("12*x**11")
    assert short_forms([long_a], width=40) == [long_a[:37] + "..."]  # nothing to tell apart: a plain cut


def _curved(search, text, curves, task="digits", status="ok", epochs=10):
    c = actsearch.parse(text)
    last = [cv[-1] for cv in curves]
    search.record(Result(key=c.key, text=c.text, status=status, score=float(np.mean(last)), seed_scores=last,
                         spread=float(np.std(last)), curves=[list(cv) for cv in curves], task=task,
                         fingerprint=c.fingerprint(), epochs=epochs, seeds=len(curves), first_seed=0))


def _alternating(low, high, early=(0.1, 0.3, 0.5, 0.6, 0.7)):
    """Five early epochs the tail must ignore, then low, high, low, high, low."""
    return list(early) + [low, high, low, high, low]


def _pstd(values):
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


@pytest.fixture
def curves_store(tmp_path):
    """Synthetic curves whose stability is known by construction.

    Around a flat trend, low/high/low/high/low has a least-squares slope of zero, so
    its swing around the trend is its standard deviation, 0.4899 * |high - low|; a
    straight line has no swing and moves 4 steps over five epochs.
    """
    url = f"sqlite:///{tmp_path / 'curves.sqlite'}"
    s = Store(url).open_search("curves", {"task": "digits", "epochs": 10, "seeds": 2})
    _curved(s, "relu(x)", [_alternating(0.80, 0.82), _alternating(0.81, 0.83)])  # swing 0.0098
    _curved(s, "gelu(x)", [_alternating(0.81, 0.82), _alternating(0.81, 0.82)])  # swing 0.0049
    _curved(s, "x**2*softsign(x)", [_alternating(0.9, 0.6), _alternating(0.85, 0.65)])  # 30 and 20 points
    _curved(s, "x*tanh(x)", [[0.1] * 5 + [0.70, 0.72, 0.74, 0.76, 0.78]] * 2)  # still rising 0.02 an epoch
    _curved(s, "x*erf(x)", [_alternating(0.80, 0.83)] * 2)  # swing 0.0147: below 2 x relu's 0.0098
    _curved(s, "x - sin(x)", [[0.2]], status="pruned")  # stopped after one epoch
    _curved(s, "softplus(x)", [[0.5, 0.8]] * 2)  # two epochs: too short to judge
    # another task without references: the 0.01 floor alone decides
    _curved(s, "x*erf(x)", [_alternating(0.80, 0.83)] * 2, task="mnist1d-mlp")
    return url


def test_tail_std_is_the_spread_of_the_last_five_epochs_averaged_over_seeds(curves_store):
    df = leaderboard(curves_store, task="digits").set_index("formula")
    expected = {
        "relu(x)": (_pstd([0.80, 0.82, 0.80, 0.82, 0.80]) + _pstd([0.81, 0.83, 0.81, 0.83, 0.81])) / 2,
        "x**2*softsign(x)": (_pstd([0.9, 0.6, 0.9, 0.6, 0.9]) + _pstd([0.85, 0.65, 0.85, 0.65, 0.85])) / 2,
        "x*tanh(x)": _pstd([0.70, 0.72, 0.74, 0.76, 0.78]),
    }
    for formula, value in expected.items():
        assert df.loc[formula, "tail_std"] == pytest.approx(value, rel=1e-9)
    assert df.loc["x**2*softsign(x)", "tail_std"] == pytest.approx(0.4899 * (0.3 + 0.2) / 2, rel=1e-3)
    for formula in ("x - sin(x)", "softplus(x)"):
        assert math.isnan(df.loc[formula, "tail_std"])


def test_stability_flags_follow_the_documented_rule(curves_store):
    df = leaderboard(curves_store, task="digits").set_index("formula")
    assert df.loc["x**2*softsign(x)", "stability"] == "unstable"  # swings 15x relu's
    assert df.loc["x*tanh(x)", "stability"] == "drifting"  # moves 0.08, relu's trend 0
    assert df.loc["x*erf(x)", "stability"] == "stable"  # 0.0147 < 2 x 0.0098
    assert df.loc["relu(x)", "stability"] == df.loc["gelu(x)", "stability"] == "stable"
    for formula in ("x - sin(x)", "softplus(x)"):  # stopped early; too short
        assert pd.isna(df.loc[formula, "stability"])
    alone = leaderboard(curves_store, task="mnist1d-mlp").set_index("formula")
    assert alone.loc["x*erf(x)", "stability"] == "unstable"  # 0.0147 > the 0.01 floor, no reference


@pytest.mark.slow
def test_stability_in_every_format_and_the_report(curves_store, tmp_path):
    df = leaderboard(curves_store, task="digits")
    flags = {i: f if isinstance(f, str) else None for i, f in zip(df["id"], df["stability"])}
    assert set(flags.values()) == {"stable", "unstable", "drifting", None}
    unstable = next(i for i, f in flags.items() if f == "unstable")
    back = pd.read_csv(io.StringIO(render(df, fmt="csv")))
    assert {i: f if isinstance(f, str) else None for i, f in zip(back["id"], back["stability"])} == flags
    assert back["tail_std"].tolist() == pytest.approx(df["tail_std"].tolist(), nan_ok=True)
    data = json.loads(render(df, fmt="json"))
    assert {r["id"]: r["stability"] for r in data["ranked"]} == flags
    text = render(df)
    assert "tail std" in text.splitlines()[0] and "stability" in text.splitlines()[0]
    line = next(ln for ln in text.splitlines() if ln.split()[1] == unstable)
    assert re.search(r"\s0\.1225\s+unstable\s", line), line
    md = render(df, fmt="markdown")
    assert re.search(rf"\| {re.escape(unstable)} \|.*\| 0\.1225 \| unstable \|", md), md
    page = write_report(tmp_path / "rep", "curves", storage=curves_store).read_text()
    assert re.search(r"<code>x\*\*2\*softsign\(x\)</code>.*?<td class=\"num\">0\.1225</td><td>unstable</td>", page)
    assert re.search(rf"<h3>#\d+ <code>{re.escape(unstable)}</code> <span class=\"warn\">unstable", page)
    assert "drifting" in page and "last 5 epochs" in page


def test_report_best_candidates_leave_out_runs_stopped_early(tmp_path):
    url = f"sqlite:///{tmp_path / 'pruned.sqlite'}"
    s = Store(url).open_search("p", {"task": "digits", "epochs": 10, "seeds": 1})
    _curved(s, "relu(x)", [[0.5, 0.6, 0.7]])
    _curved(s, "x*tanh(x)", [[0.5, 0.6, 0.72]])
    _curved(s, "x*erf(x)", [[0.99]], status="pruned")  # stopped after one epoch, at a high score
    page = write_report(tmp_path / "rep", storage=url).read_text()
    best = page.split("<h2>Best candidates</h2>", 1)[1]
    headings = re.findall(r"<h3>#\d+ <code>([^<]+)</code>", best)
    assert headings == ["p:1"]
    assert "1 candidate(s) stopped early" in best
    assert "<td>pruned</td>" in page  # still listed in the leaderboard, as pruned


def test_a_candidate_that_cannot_fit_its_training_data_is_flagged(tmp_path):
    """Steady validation curves, but a training loss left far above the references':
    the replication's x**2*softsign(x), whose train accuracy stuck below relu's."""
    url = f"sqlite:///{tmp_path / 'loss.sqlite'}"
    s = Store(url).open_search("l", {"task": "digits", "epochs": 10, "seeds": 1})
    steady = [[0.5, 0.6, 0.65, 0.66, 0.66, 0.66, 0.66, 0.66, 0.66, 0.66]]

    def record(text, final_loss):
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, score=0.66, seed_scores=[0.66], curves=steady, task="digits",
                        loss_curves=[[2.3, 1.0, final_loss]], fingerprint=c.fingerprint(), epochs=10, seeds=1,
                        first_seed=0))

    record("relu(x)", 0.02)
    record("gelu(x)", 0.03)
    record("x**2*softsign(x)", 0.61)  # 0.61 > max(0.05, 2 x 0.03)
    record("x*tanh(x)", 0.055)  # under twice the references' 0.03: not flagged
    df = leaderboard(url).set_index("formula")
    assert df.loc["x**2*softsign(x)", "stability"] == "not converged"
    assert df.loc["x*tanh(x)", "stability"] == df.loc["relu(x)", "stability"] == "stable"


# -- converged first, sections, a table that fits, Holm --------------------------------------
def _fitted(search, text, score, final_loss, seeds=2, status="ok", reused_from="", epochs=3):
    c = actsearch.parse(text)
    scores = [score - 0.01, score + 0.01][:seeds] if seeds > 1 else [score]
    search.record(Result(key=c.key, text=c.text, status=status, score=score, seed_scores=scores,
                         spread=float(np.std(scores)), curves=[[0.3, 0.5, score]] * seeds,
                         loss_curves=[[2.0, 1.0, final_loss]] * seeds, task="digits", fingerprint=c.fingerprint(),
                         epochs=epochs, seeds=seeds, first_seed=0, reused_from=reused_from))


@pytest.fixture
def sections_store(tmp_path):
    """References copied from an earlier search, a winner that cannot fit its data,
    one stopped early above every reference, and a single-seed row."""
    url = f"sqlite:///{tmp_path / 'sections.sqlite'}"
    s = Store(url).open_search("s", {"task": "digits", "epochs": 3, "seeds": 2})
    _fitted(s, "relu(x)", 0.646, 0.02, reused_from="old")
    _fitted(s, "gelu(x)", 0.650, 0.03, reused_from="old")
    _fitted(s, "x*tanh(x)", 0.660, 0.05)
    _fitted(s, "x**2*softsign(x)", 0.710, 0.43)  # 0.43 > max(0.05, 2 x 0.03): not converged
    _fitted(s, "x*erf(x)", 0.600, 0.059)  # under twice the references' 0.03: converged
    _fitted(s, "x*tanh(softplus(x))", 0.664, 0.5, seeds=1, status="pruned")
    return url


def test_not_converged_ranks_below_every_converged_row_by_scorings_rule(sections_store):
    from actsearch.scoring import converged

    df = leaderboard(sections_store)
    assert df["formula"].tolist() == ["x*tanh(x)", "gelu(x)", "relu(x)", "x*erf(x)", "x**2*softsign(x)",
                                      "x*tanh(softplus(x))"]
    assert df["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    by = df.set_index("formula")
    for formula, row in by.iterrows():  # the same rule as scoring.py, applied by hand
        expected = None if row["status"] != "ok" else converged(row["final_loss"], [0.02, 0.03])
        assert row["converged"] is expected, formula
    assert by.loc["x**2*softsign(x)", "stability"] == "not converged"
    assert by.loc["x**2*softsign(x)", "section"] == "not converged"
    assert by.loc["relu(x)", "section"] == by.loc["gelu(x)", "section"] == "copied"
    assert by.loc["relu(x)", "copied_from"] == "old" and pd.isna(by.loc["x*tanh(x)", "copied_from"])
    assert by.loc["x*tanh(softplus(x))", "section"] == "stopped early"
    # its gain is still shown: the rank, not the numbers, says it did not hold up
    assert by.loc["x**2*softsign(x)", "gain"] == pytest.approx(0.71 - 0.65)


def test_the_statistics_keep_no_loss_rule_of_their_own():
    import actsearch.results.statistics as statistics

    assert not hasattr(statistics, "LOSS_FLOOR") and "loss" not in statistics.Tail.__dataclass_fields__


def test_sections_in_the_text_table_and_plus_minus_only_with_two_seeds(sections_store):
    text = render(leaderboard(sections_store), width=None)
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("-- ")]
    assert [lines[i].split(" (")[0] for i in starts] == ["-- copied from earlier searches", "-- not converged",
                                                         "-- stopped early by the scheduler"]
    body = lambda i: lines[i + 1].split()[:3]  # noqa: E731 - the first row under a heading
    assert body(starts[0])[2] == "gelu(x)" and body(starts[1])[2] == "x**2*softsign(x)"
    single = next(ln for ln in lines if "x*tanh(softplus(x))" in ln)
    assert "0.6640" in single and "±" not in single
    assert "0.6600 ± 0.0100" in next(ln for ln in lines if ln.split()[2:3] == ["x*tanh(x)"])


def test_the_table_fits_the_width_it_is_given_and_wide_shows_everything(sections_store, commands, capsys,
                                                                         monkeypatch):
    long = "x*tanh(softplus(x)) + 0.001*sin(3*x)*cos(5*x) + 0.002*arctan(x)*erf(x) + 0.003*softsign(x)"
    s = Store(sections_store).search("s")
    s.record(Result(key="long", text=actsearch.parse(long).text, score=0.655, seed_scores=[0.65, 0.66],
                    spread=0.005, task="digits", fingerprint=actsearch.parse(long).fingerprint(), epochs=3, seeds=2))
    df = leaderboard(sections_store)
    for width in (160, 120, 100):
        table = render(df, width=width).split("\nfailed")[0]
        assert max(len(ln) for ln in table.splitlines()) <= width, (width, table)
    assert "params" in render(df, width=200) and "params" not in render(df, width=100)
    # no row of this store has a kernel time: a fitted table gives that column's room to the formula
    assert df["kernel_ms"].isna().all() and "kernel ms" not in render(df, width=200)
    wide = render(df, wide=True)
    assert actsearch.parse(long).text in wide and "kernel ms" in wide
    monkeypatch.setenv("COLUMNS", "100")
    assert commands(["leaderboard", "--storage", sections_store]) == 0
    out = capsys.readouterr().out
    assert max(len(ln) for ln in out.split("\nfailed")[0].splitlines()) <= 100
    assert "tail std: std of the metric" in out  # the legend, under the table
    assert commands(["leaderboard", "--storage", sections_store, "--wide", "--no-legend"]) == 0
    out = capsys.readouterr().out
    assert actsearch.parse(long).text in out and "tail std: std" not in out


def _holm_by_steps(pvalues, alpha):
    """Holm's procedure as written: reject the smallest while p_(i) <= alpha / (m - i + 1)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = set()
    for k, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - k):
            break
        rejected.add(i)
    return rejected


def test_holm_rejects_what_the_step_down_procedure_rejects():
    from actsearch.results.statistics import holm

    rng = np.random.default_rng(0)
    for _ in range(200):
        p = list(rng.uniform(0, 0.2, size=int(rng.integers(1, 7))))
        adjusted = holm(p)
        assert all(a >= q for a, q in zip(adjusted, p)) and all(a <= 1 for a in adjusted)
        for alpha in (0.01, 0.05, 0.1):
            assert {i for i, a in enumerate(adjusted) if a <= alpha} == _holm_by_steps(p, alpha)
    assert math.isnan(holm([0.01, math.nan])[1]) and holm([0.01, math.nan])[0] == pytest.approx(0.01)


def test_reports_of_a_search_and_its_confirmation_show_both_scores_and_the_verdicts(tmp_path):
    url = f"sqlite:///{tmp_path / 'conf.sqlite'}"
    src = Store(url).open_search("src", {"task": "digits", "epochs": 3, "seeds": 1, "seed": 0})
    for text, score in (("relu(x)", 0.6), ("x*tanh(x)", 0.7), ("x*erf(x)", 0.66)):
        _seeded(src, text, [score])
    conf = Store(url).open_search("src-confirm", {"task": "digits", "epochs": 3, "seeds": 5, "seed": 1,
                                                  "confirms": "src"})
    _seeded(conf, "relu(x)", [0.60, 0.61, 0.62, 0.60, 0.61], first_seed=1)
    _seeded(conf, "x*tanh(x)", [0.64, 0.66, 0.65, 0.67, 0.65], first_seed=1)
    _seeded(conf, "x*erf(x)", [0.58, 0.61, 0.60, 0.64, 0.55], first_seed=1)
    for name in ("src-confirm", "src"):
        page = write_report(tmp_path / name, name, storage=url).read_text()
        assert "Search against confirmation on fresh seeds" in page and "The candidates' shapes" in page
        assert "src:1 0.7000 -&gt; src-confirm:1 0.6540" in page and "CONFIRMED" in page
    page = write_report(tmp_path / "again", "src-confirm", storage=url).read_text()
    assert "<th>search id</th><th>search score</th>" in page and "p holm" in page
