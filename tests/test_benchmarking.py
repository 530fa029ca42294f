"""Replay benchmark: table I/O, the restricted space, the summary figures, the CLI,
and the claim it exists to check (a surrogate needs fewer lookups than random)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import actsearch
from actsearch.benchmarking import (BenchmarkError, Table, TableSpace, replay, run_benchmark, summarize,
                                    synthetic_scores)
from actsearch.cli import main

# the tiny finite grammar of the optimiser suite (pytest puts tests/ on sys.path)
from test_optimizers import TinyGrammar


@pytest.fixture(scope="module")
def grammar():
    return TinyGrammar()


@pytest.fixture(scope="module")
def table(grammar):
    members = list(grammar.enumerate())
    return Table.from_scores(members, synthetic_scores(members, seed=0, noise=0.003))


def _write(path, rows, seeds=3):
    cols = ["text", "fingerprint", "mean_accuracy"] + [f"acc_seed{i}" for i in range(seeds)] + ["status"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def test_table_load_threshold_and_lookup(tmp_path):
    texts = [f"x + {k}*tanh(x)" for k in range(1, 201)]
    rows = []
    for k, t in enumerate(texts):
        c = actsearch.parse(t)
        accs = [0.5 + k / 1000 + d for d in (-0.01, 0.0, 0.01)]
        rows.append({"text": t, "fingerprint": c.fingerprint(), "mean_accuracy": f"{np.mean(accs):.6f}",
                     "acc_seed0": accs[0], "acc_seed1": accs[1], "acc_seed2": accs[2], "status": "ok"})
    rows[-1].update(mean_accuracy="", acc_seed0="", status="diverged")  # the would-be best failed
    path = tmp_path / "t.csv"
    _write(path, rows)
    t = Table.load(str(path))
    assert len(t) == 200
    # 199 ok rows, accuracies 0.5 + k/1000 for k = 0..198; top 1% = ceil(1.99) = 2 rows
    assert t.threshold(0.01) == pytest.approx(0.5 + 197 / 1000)
    assert t.best == pytest.approx(0.5 + 198 / 1000)
    r = t.result(actsearch.parse(texts[3]))
    assert r.ok and r.score == pytest.approx(0.503) and r.seed_scores == pytest.approx([0.493, 0.503, 0.513])
    failed = t.result(actsearch.parse(texts[-1]))
    assert not failed.ok and failed.status == "diverged"
    missing = t.result(actsearch.parse("sin(x)"))
    assert not missing.ok and "not in the benchmark table" in missing.message


def test_table_errors_are_clear(tmp_path):
    with pytest.raises(BenchmarkError, match="does not exist"):
        Table.load(str(tmp_path / "nope.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("text,mean_accuracy,status\nrelu(x),0.5,ok\n")
    with pytest.raises(BenchmarkError, match="lacks column 'fingerprint'"):
        Table.load(str(bad))
    bad.write_text("text,fingerprint,mean_accuracy,status\nrelu(x,,0.5,ok\n")
    with pytest.raises(BenchmarkError, match="line 2"):
        Table.load(str(bad))
    with pytest.raises(BenchmarkError, match="no row with status 'ok'"):
        Table.from_scores([actsearch.parse("relu(x)")], [None])


def test_table_space_stays_inside_the_table(grammar, table):
    half = Table(table.rows[::2])
    space = TableSpace(half, base=grammar)
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = space.sample(rng), space.sample(rng)
        for c in (a, space.mutate(a, rng), space.crossover(a, b, rng)):
            assert space.contains(c) and c.fingerprint() in half.by_fingerprint
    assert space.finite and len(list(space.enumerate())) == len(half)


def test_summarize_against_hand_computed_traces(table):
    thr = table.threshold(0.01)
    lo = thr - 0.1
    traces = [[lo, None, thr] + [lo] * 97,       # reaches the top at evaluation 3
              [lo] * 40 + [thr + 1e-9] + [lo] * 59,  # at 41
              [None] * 100]                       # never
    s = summarize(traces, table)
    assert s["evals_to_top"] == 41.0  # median of (3, 41, inf)
    assert s["reached"] == pytest.approx(2 / 3)
    assert s["best_at"][25] == pytest.approx(lo)  # median of (thr, lo, -inf)
    assert s["best_at"][50] == pytest.approx(thr)
    none = summarize([[None] * 10, [lo] * 10], table)
    assert none["evals_to_top"] is None and none["reached"] == 0.0


def test_replay_counts_every_evaluation_and_is_deterministic(grammar, table):
    a = replay(table, "evolution", repeats=2, budget=30, seed=4, base=grammar)
    b = replay(table, "evolution", repeats=2, budget=30, seed=4, base=grammar)
    assert a == b and [len(t) for t in a] == [30, 30]
    scores = {r.fingerprint: r.accuracy for r in table.rows}
    assert all(s is None or s in scores.values() for s in a[0])


def test_surrogate_needs_fewer_lookups_than_random(grammar, table):
    """The point of the exercise, on a smooth synthetic table (240 functions, top 1% = 3)."""
    out = {s["optimizer"]: s for s in run_benchmark(table, ["random", "surrogate"], repeats=8, budget=150,
                                                   base=grammar)}
    rnd, sur = out["random"], out["surrogate"]
    assert sur["evals_to_top"] is not None
    assert rnd["evals_to_top"] is None or sur["evals_to_top"] < rnd["evals_to_top"]
    assert sur["best_at"][25] >= rnd["best_at"][25]


def test_cli_optimisers_prints_a_table(tmp_path, capsys):
    grammar = actsearch.space("grammar")
    members = [c for _, c in zip(range(60), grammar.enumerate())]
    scores = synthetic_scores(members, seed=1)
    rows = [{"text": c.text, "fingerprint": c.fingerprint(),
             "mean_accuracy": "" if s is None else f"{s:.6f}", "status": "ok" if s is not None else "nan"}
            for c, s in zip(members, scores)]
    path = tmp_path / "table.csv"
    _write(path, rows, seeds=0)
    code = main(["benchmark", "optimisers", "--table", str(path), "--repeats", "2", "--budget", "30",
                 "--optimizers", "random,evolution"])
    out = capsys.readouterr().out
    assert code == 0
    assert "table: 60 functions" in out and "| random |" in out and "| evolution |" in out


def test_cli_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["benchmark", "optimisers", "--table", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["benchmark", "optimisers", "--table", "x.csv", "--repeats", "0"]) == 2
    assert main(["benchmark", "build", "--limit", "0"]) == 2
