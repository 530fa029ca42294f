"""Replay benchmark: table I/O, the restricted space, the counting rules (random
without replacement, repeats free, censoring), the bootstrap, the shuffled-feature
control, the summary figures, the CLI, and the claim it exists to check (a surrogate
needs fewer lookups than random)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

import actsearch
from actsearch.benchmarking.replay import (MAX_SKIPS, BenchmarkError, PermutationRandom, ShuffledFeatures, Table,
                                           TableSpace, _search, bootstrap_median, bootstrap_ratio, format_summary,
                                           make_optimizer, replay, replay_runs, run_benchmark, summarize,
                                           synthetic_scores)
from actsearch.cli import main

# the tiny finite grammar of the optimiser suite (tests/conftest.py puts every folder of tests on sys.path)
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


@pytest.mark.slow
def test_surrogate_needs_fewer_lookups_than_random(grammar, table):
    """The point of the exercise, on a smooth synthetic table (240 functions, top 1% = 3)."""
    out = {s["optimizer"]: s for s in run_benchmark(table, ["random", "surrogate"], repeats=8, budget=150,
                                                   base=grammar)}
    rnd, sur = out["random"], out["surrogate"]
    assert sur["evals_to_top"] is not None
    assert rnd["evals_to_top"] is None or sur["evals_to_top"] < rnd["evals_to_top"]
    assert sur["best_at"][25] >= rnd["best_at"][25]


def test_random_baseline_never_proposes_a_function_twice(table):
    space = TableSpace(table)
    opt = PermutationRandom(space, seed=3)
    fps = []
    while (c := opt.ask()) is not None:
        fps.append(c.fingerprint())
    assert len(fps) == len(set(fps)) == len(table.by_fingerprint)  # every function once, then exhausted
    # through the replay: a full-table search evaluates every row exactly once, no repeat proposed
    runs = replay_runs(table, "random", repeats=3, seed=0)
    for run in runs:
        assert run.free_repeats == 0 and len(run.trace) == len(table)
        assert sorted(s for s in run.trace if s is not None) == sorted(
            r.accuracy for r in table.rows if r.accuracy is not None)
    assert runs[0].trace != runs[1].trace  # a different order per repeat
    # each evaluation names what it trained: the table's score of that function
    for run in runs:
        assert [table.result(c).score for c in run.candidates] == run.trace


class _Stuck:
    """Proposes the same two functions forever."""

    def __init__(self, a, b):
        self.cands, self.k, self.told = (a, b), 0, []

    def ask(self):
        self.k += 1
        return self.cands[min(self.k - 1, 1)]

    def tell(self, cand, result):
        self.told.append((cand.text, result.score))


def test_repeats_cost_nothing_and_end_a_stuck_search(table):
    a, b = table.rows[0].candidate, table.rows[1].candidate
    opt = _Stuck(a, b)
    run = _search(opt, table, budget=50, threshold=None, min_evals=0)
    assert len(run.trace) == 2 and run.free_repeats == MAX_SKIPS and run.ended == "repeats"
    # the repeat is told its earlier result again, as a real search does
    assert opt.told[-1] == (b.text, table.rows[1].accuracy) and len(opt.told) == 2 + MAX_SKIPS
    s = summarize([run], table)
    assert s["ended_on_repeats"] == 1 and s["free_repeats"] == MAX_SKIPS


def test_stopping_at_the_target_changes_no_figure(grammar, table):
    thr = table.threshold(0.01)
    full = replay_runs(table, "evolution", repeats=3, budget=120, seed=1, base=grammar)
    cut = replay_runs(table, "evolution", repeats=3, budget=120, seed=1, base=grammar, stop_at=thr, min_evals=25)
    for f, c in zip(full, cut):
        assert f.trace[:len(c.trace)] == c.trace and len(c.trace) >= min(25, len(f.trace))
    assert summarize(full, table, checkpoints=(25,))["hits"] == summarize(cut, table, checkpoints=(25,))["hits"]


def test_bootstrap_interval_covers_the_median_of_a_known_distribution():
    rng = np.random.default_rng(0)
    true = math.log(2)  # median of Exp(1)
    sample = rng.exponential(size=301)
    med, low, high = bootstrap_median(sample, n_boot=2000, seed=1)
    assert med == np.median(sample) and low < med < high
    assert 0.1 < high - low < 0.4  # about 4 standard errors of the median (sqrt(1/4/301)/f(ln 2) = 0.058 each)
    # a single interval misses 5% of the time: what the bootstrap promises is the coverage, near the nominal 95%
    covered = 0
    for k in range(200):
        _, lo, hi = bootstrap_median(rng.exponential(size=101), n_boot=1000, seed=k)
        covered += lo <= true <= hi
    assert 0.88 <= covered / 200 <= 0.995
    # seeded: the same call gives the same interval
    x = rng.exponential(size=50)
    assert bootstrap_median(x, seed=5) == bootstrap_median(x, seed=5)


def test_bootstrap_ratio_of_medians():
    rng = np.random.default_rng(2)
    fast, slow = rng.exponential(1.0, size=300), rng.exponential(2.0, size=300)
    ratio, low, high = bootstrap_ratio(fast, slow, n_boot=2000, seed=0)
    assert ratio == pytest.approx(np.median(fast) / np.median(slow))
    assert low < 0.5 < high < 1.0  # covers the true ratio, and excludes "no better"
    same = bootstrap_ratio(slow, slow, n_boot=500)
    assert same[0] == 1.0 and same[1] <= 1.0 <= same[2]


def test_censored_repeats_sort_last(table):
    thr = table.threshold(0.01)
    lo = thr - 0.1
    reached = [[lo] * (k - 1) + [thr] for k in (5, 10, 20)]
    never = [[lo] * 30] * 4
    s = summarize(reached + never, table, checkpoints=(25,), n_boot=500)
    assert s["evals_to_top"] is None and math.isinf(s["evals_ci"][1])  # 4 of 7 never reached: median censored
    assert s["hits"][:3] == [5.0, 10.0, 20.0] and all(math.isinf(h) for h in s["hits"][3:])
    s = summarize(reached * 2 + never, table, checkpoints=(25,), n_boot=500)
    assert s["evals_to_top"] == 20.0 and s["reached"] == pytest.approx(0.6)  # median of 5,5,10,10,20,20,inf x4
    s.update(optimizer="x", seconds=0.0, budget=30, reference=None)
    assert "censored" in format_summary([s], table)


def test_shuffled_features_are_a_permutation(table):
    space = TableSpace(table)
    members = list(space.enumerate())
    opt = make_optimizer("surrogate-shuffled", space, seed=0)
    assert isinstance(opt.features, ShuffledFeatures)
    mine, inner = opt.features.matrix(members), opt.features.inner.matrix(members)
    assert sorted(map(tuple, mine)) == sorted(map(tuple, inner))  # the same vectors...
    moved = np.mean([not np.array_equal(a, b) for a, b in zip(mine, inner)])
    assert moved > 0.9  # ...on other functions
    other = make_optimizer("surrogate-shuffled", space, seed=1).features.permutation
    assert not np.array_equal(other, opt.features.permutation)  # a new permutation per repeat


@pytest.mark.slow
def test_shuffled_control_is_no_better_than_random(grammar):
    """Where features determine the score, the surrogate beats random and the shuffled control does not."""
    members = list(grammar.enumerate())
    noiseless = Table.from_scores(members, synthetic_scores(members, seed=0, noise=0.0))
    n, k = len(noiseless), sum(r.accuracy >= noiseless.threshold(0.01) for r in noiseless.rows)
    expected_random = (n + 1) / (k + 1)  # mean first-hit position in a random permutation
    out = {s["optimizer"]: s for s in run_benchmark(noiseless, ["random", "surrogate", "surrogate-shuffled"],
                                                   repeats=40, base=grammar, checkpoints=(), n_boot=500)}
    means = {name: float(np.mean(s["hits"])) for name, s in out.items()}
    assert all(s["reached"] == 1.0 for s in out.values())  # the whole table is the budget
    assert 0.75 * expected_random < means["random"] < 1.25 * expected_random
    assert means["surrogate"] < 0.5 * expected_random
    assert means["surrogate-shuffled"] > 0.75 * expected_random
    assert out["surrogate"]["ratio"][2] < 1.0  # clearly better than random
    assert out["surrogate-shuffled"]["ratio"][1] < 1.0 < out["surrogate-shuffled"]["ratio"][2]


@pytest.mark.slow
def test_cli_optimisers_prints_a_table(tmp_path, capsys):
    grammar = actsearch.space("grammar")
    members = [c for _, c in zip(range(60), grammar.enumerate())]
    scores = synthetic_scores(members, seed=1)
    rows = [{"text": c.text, "fingerprint": c.fingerprint(),
             "mean_accuracy": "" if s is None else f"{s:.6f}", "status": "ok" if s is not None else "nan"}
            for c, s in zip(members, scores)]
    path = tmp_path / "table.csv"
    _write(path, rows, seeds=0)
    hits = tmp_path / "hits.json"
    code = main(["benchmark", "optimisers", "--table", str(path), "--repeats", "3", "--budget", "30",
                 "--optimizers", "random,evolution", "--bootstrap", "200", "--hits", str(hits)])
    out = capsys.readouterr().out
    assert code == 0
    assert "table: 60 functions" in out and "| random |" in out and "| evolution |" in out
    assert "ratio to random" in out and "3 repeats, budget 30" in out
    saved = json.loads(hits.read_text())
    assert set(saved) == {"random", "evolution"} and len(saved["random"]) == 3


def test_cli_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["benchmark", "optimisers", "--table", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["benchmark", "optimisers", "--table", "x.csv", "--repeats", "0"]) == 2
    assert main(["benchmark", "optimisers", "--table", "x.csv", "--bootstrap", "0"]) == 2
    assert main(["benchmark", "build", "--limit", "0"]) == 2


# -- tables with curves: the search's score rule and the convergence rule --------------

def _curve_table(path, rows):
    """A table as `benchmark build` writes it: curves and training losses per seed."""
    cols = (["text", "family", "shape", "tree", "fingerprint", "status", "mean_accuracy"]
            + [f"acc_seed{i}" for i in range(2)] + [f"curve_seed{i}" for i in range(2)]
            + [f"loss_seed{i}" for i in range(2)] + ["seconds", "message"])
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for text, curves, losses in rows:
            c = actsearch.parse(text)
            w.writerow({"text": text, "family": "grammar", "fingerprint": c.fingerprint(), "status": "ok",
                        "mean_accuracy": np.mean([cv[-1] for cv in curves]),
                        **{f"acc_seed{i}": cv[-1] for i, cv in enumerate(curves)},
                        **{f"curve_seed{i}": " ".join(map(str, cv)) for i, cv in enumerate(curves)},
                        **{f"loss_seed{i}": " ".join(map(str, lv)) for i, lv in enumerate(losses)}})


def test_table_scores_by_the_tail_mean_and_ranks_unconverged_rows_last(tmp_path):
    ok_loss = [[1.0, 0.5, 0.3]] * 2
    rows = [
        ("relu(x)", [[0.5, 0.6, 0.6], [0.5, 0.6, 0.7]], ok_loss),
        ("gelu(x)", [[0.5, 0.6, 0.62], [0.5, 0.6, 0.62]], ok_loss),
        ("silu(x)", [[0.5, 0.6, 0.61], [0.5, 0.6, 0.61]], [[1.0, 0.5, 0.25]] * 2),
        ("tanh(x)", [[0.2, 0.9, 0.5], [0.2, 0.9, 0.5]], ok_loss),          # a lucky last-but-one epoch
        ("x*tanh(x)", [[0.6, 0.7, 0.8], [0.6, 0.7, 0.8]], [[2.0, 1.5, 0.9]] * 2),  # best, but its loss stays high
    ]
    path = tmp_path / "curves.csv"
    _curve_table(path, rows)
    last = Table.load(str(path))
    tail = Table.load(str(path), score="tail:2")
    held = Table.load(str(path), score="tail:2", convergence=True)
    by = lambda t: {r.candidate.text: r for r in t.rows}  # noqa: E731
    # independent arithmetic: each seed's mean over its last 2 epochs, then over seeds
    assert by(tail)["relu(x)"].accuracy == pytest.approx(np.mean([(0.6 + 0.6) / 2, (0.6 + 0.7) / 2]))
    assert by(last)["tanh(x)"].accuracy == pytest.approx(0.5) and by(tail)["tanh(x)"].accuracy == pytest.approx(0.7)
    # the references' highest final loss is 0.3: 0.9 is above 2 x 0.3 and above the 0.05 floor
    assert by(held)["x*tanh(x)"].converged is False and by(held)["relu(x)"].converged is True
    assert by(held)["x*tanh(x)"].accuracy < min(r.accuracy for r in held.rows if r.converged)
    assert by(held)["x*tanh(x)"].score == pytest.approx(0.75)  # the score itself is kept
    assert [c.text for c in held.references()] == ["relu(x)", "gelu(x)", "silu(x)"]
    with pytest.raises(BenchmarkError, match="score rule 'middle'"):
        Table.load(str(path), score="middle")
    _write(tmp_path / "old.csv", [{"text": "relu(x)", "fingerprint": "", "mean_accuracy": "0.5", "status": "ok"}])
    with pytest.raises(BenchmarkError, match="needs per-epoch curves"):
        Table.load(str(tmp_path / "old.csv"), score="tail:2")
    _curve_table(tmp_path / "norefs.csv", rows[3:])
    with pytest.raises(BenchmarkError, match="needs the references' rows"):
        Table.load(str(tmp_path / "norefs.csv"), convergence=True)


def test_replay_tells_the_references_first_without_counting_them(table, grammar):
    given = [m for m in grammar.enumerate()][:3]
    told = []

    class Recorder:
        def ask(self):
            return None

        def tell(self, cand, result):
            told.append(cand.text)

    run = _search(Recorder(), table, budget=10, threshold=None, min_evals=0, given=given)
    assert told == [c.text for c in given] and run.trace == [] and run.ended == "exhausted"
    # the target is taken among the other rows
    fps = {c.fingerprint() for c in given}
    others = sorted((r.accuracy for r in table.rows if r.accuracy is not None and r.fingerprint not in fps),
                    reverse=True)
    assert table.threshold(0.05, exclude=fps) == others[math.ceil(0.05 * len(others)) - 1]


def test_table_space_mutations_land_on_the_nearest_row(table, grammar):
    from actsearch.surrogates.features import FeatureExtractor

    space = TableSpace(table, grammar)
    fx = FeatureExtractor(groups=("outputs",))
    outside = actsearch.parse("x*tanh(x) + 0.01*x")  # not a row
    got = space.nearest(outside, exclude=set())
    dist = {r.fingerprint: float(((fx(r.candidate) - fx(outside)) ** 2).sum()) for r in table.rows}
    assert got.fingerprint() == min(dist, key=dist.get)
    rng = np.random.default_rng(0)
    for r in table.rows[:10]:
        child = space.mutate(r.candidate, rng)
        assert space.contains(child) and child.fingerprint() != r.fingerprint
