"""A user task contract like Ray Tune's: any report() keys, a number or a dict returned,
--metric NAME --mode max|min, and a search that stops when the references all fail alike."""

from __future__ import annotations

import pytest

import actsearch
from actsearch.errors import ActsearchError, TaskError
from actsearch.result import Result
from actsearch.search import TrialSpec
from actsearch.search.trial.evaluate import evaluate
from actsearch.search.trial.messages import TrialEnded, failed_score
from actsearch.tasks.base import MetricReport, TrainResult


def test_a_number_or_a_dict_with_any_keys():
    reported = MetricReport("val_loss")
    for epoch, loss in enumerate((0.9, 0.5, 0.4), 1):
        reported(epoch, {"val_loss": loss, "acc": 1 - loss, "lr": 0.1})
    as_number = TrainResult.coerce(0.35, metric="val_loss", reported=reported)
    assert (as_number.status, as_number.score, as_number.metric) == ("ok", 0.35, "val_loss")
    assert as_number.curve == [0.9, 0.5, 0.4]
    as_dict = TrainResult.coerce({"val_loss": 0.3, "acc": 0.7, "anything": "else"}, metric="val_loss")
    assert as_dict.score == 0.3 and as_dict.status == "ok"
    # nothing returned for it: the last reported value
    assert TrainResult.coerce({"acc": 0.7}, metric="val_loss", reported=reported).score == 0.4
    assert TrainResult.coerce({"score": 0.8}).score == 0.8  # the default metric, as before
    import numpy as np

    assert TrainResult.coerce(np.float32(0.5), metric="m").score == 0.5


def test_what_is_missing_is_named():
    reported = MetricReport("val_loss")
    reported(1, {"loss": 0.9, "acc": 0.1})
    out = TrainResult.coerce({"accuracy": 0.5}, metric="val_loss", where="task 'mine:train'", reported=reported)
    assert out.status == "error" and out.score is None
    assert out.message == ("task 'mine:train' returned no score: neither report() nor its result gave 'val_loss' "
                           "(report() gave: acc, loss; it returned a dict with accuracy)")
    with pytest.raises(TaskError, match="nor its result gave 'val_loss'"):  # said to be ok, without the metric
        TrainResult.coerce({"status": "ok", "acc": 0.5}, metric="val_loss", reported=reported)
    for value, needle in ((True, "not a number"), ("high", "returned str"), ({"val_loss": "low"}, "not a number")):
        with pytest.raises(TaskError, match=needle):
            TrainResult.coerce(value, metric="val_loss")
    with pytest.raises(TaskError, match="report\\(\\) takes"):
        MetricReport("m")(1, 0.5)


def _user_task(tmp_path, monkeypatch, body: str) -> str:
    (tmp_path / "contract_task.py").write_text(
        "import torch\n\ndef train(act_factory, budget, seed, report):\n"
        "    act = act_factory()\n    x = torch.linspace(-2, 2, 32)\n"
        "    loss = float((act(x) - torch.tanh(x)).pow(2).mean())\n" + body)
    monkeypatch.chdir(tmp_path)
    return str(tmp_path / "contract_task.py") + ":train"


def test_the_trial_scores_the_searchs_metric(tmp_path, monkeypatch):
    task = _user_task(tmp_path, monkeypatch, "    for e in range(budget):\n"
                      "        report(e + 1, {'val_loss': loss + 1.0 / (e + 1), 'acc': 1 - loss})\n"
                      "    return {'acc': 1 - loss}\n")
    result = evaluate(TrialSpec(text="tanh(x)", task=task, epochs=3, seeds=(0,), backend="eager",
                                metric="val_loss", mode="min", screen=False))
    assert result.status == "ok", result.message
    assert result.metric == "val_loss" and result.curves == [[pytest.approx(1.0), pytest.approx(0.5),
                                                             pytest.approx(1 / 3)]]
    assert result.score == pytest.approx((1.0 + 0.5 + 1 / 3) / 3)  # the tail mean of its reported curve
    failed = evaluate(TrialSpec(text="tanh(x)", task=task, epochs=1, seeds=(0,), backend="eager",
                                metric="val_los", mode="min", screen=False))
    assert failed.status == "error" and "nor its result gave 'val_los' (report() gave: acc, val_loss" in failed.message


def test_a_built_in_task_is_scored_by_another_metric_it_reports():
    result = evaluate(TrialSpec(text="x*tanh(x)", task="digits", epochs=2, seeds=(0,), backend="eager",
                                device="cpu", metric="train_loss", mode="min"))
    assert result.status == "ok", result.message
    assert result.metric == "train_loss" and len(result.curves[0]) == 2
    assert result.curves[0] == pytest.approx(result.loss_curves[0])  # the training loss is the metric
    assert result.score == pytest.approx(sum(result.curves[0]) / 2)  # its tail mean


def test_the_scheduler_sees_a_failure_as_the_worst_value_either_way():
    failed = Result(key="k", text="x", status="error")
    assert TrialEnded(failed).to_metrics(3, "max")["score"] == failed_score("max") < -1e29
    assert TrialEnded(failed).to_metrics(3, "min")["score"] == failed_score("min") > 1e29


class _Recorder:
    """An optimiser that records what it is told."""

    name = "recorder"

    def __init__(self):
        self.told = []

    def ask(self):
        return None

    def tell(self, candidate, result):
        self.told.append(result.score)

    def state_dict(self):
        return {}


def _driver(tmp_path, mode="max", metric="val_loss"):
    from actsearch.search.driver import Driver, TrialDefaults
    from actsearch.store import Store

    store = Store("sqlite:///" + str(tmp_path / "d.db"))
    stored = store.open_search("d", {"task": "t", "epochs": 1, "seeds": 1})
    refs = [actsearch.preset(n) for n in ("relu", "gelu", "silu")]
    defaults = TrialDefaults(task="t", task_options={}, task_spec="t", metric=metric, epochs=1, seeds=(0,),
                             backend="eager", device="cpu", precision="fp32", early_stop=False, trial_timeout=None,
                             mode=mode)
    opt = _Recorder()
    driver = Driver(stored, opt, refs, defaults, budget=5, known={}, references={c.fingerprint() for c in refs})
    return driver, opt


def test_optimisers_are_told_higher_is_better_and_the_best_is_the_lowest_in_min_mode(tmp_path):
    driver, opt = _driver(tmp_path, mode="min")
    for trial, score in (("a", 0.5), ("b", 0.2), ("c", 0.9)):
        spec = driver.suggest(trial)
        assert (spec.metric, spec.mode) == ("val_loss", "min")
        driver.complete(trial, Result(key="k", text=spec.text, score=score, seed_scores=[score]))
    assert opt.told == [-0.5, -0.2, -0.9] and driver.best == 0.2
    assert [r.score for r in driver.stored.results()] == [0.5, 0.2, 0.9]  # stored as measured


def test_references_failing_alike_stop_the_search_in_one_line(tmp_path):
    driver, _ = _driver(tmp_path)
    message = ("TaskError: task 'mine:train' returned no score: neither report() nor its result gave 'val_loss' "
               "(report() gave: loss; it returned a dict with acc)")
    for trial in ("a", "b", "c"):
        spec = driver.suggest(trial)
        assert driver.error is None
        driver.complete(trial, Result(key="k", text=spec.text, status="error", message=message))
    text = str(driver.error)
    assert isinstance(driver.error, ActsearchError) and "\n" not in text
    assert text.startswith("search stopped: every reference failed with the same error: " + message)
    assert "report(epoch, {'val_loss': value, ...})" in text and "--mode max|min" in text
    # references failing for different reasons say nothing about the task
    (tmp_path / "other").mkdir()
    other, _ = _driver(tmp_path / "other")
    for trial, why in (("a", "x"), ("b", "y"), ("c", "x")):
        spec = other.suggest(trial)
        other.complete(trial, Result(key="k", text=spec.text, status="error", message=why))
    assert other.error is None


def _min_search(path, losses) -> str:
    """A stored search "low" of --metric val_loss --mode min on digits, one result per (formula, loss)."""
    from actsearch.search.config import SearchConfig
    from actsearch.store import Store

    url = f"sqlite:///{path}"
    cfg = SearchConfig(task="digits", metric="val_loss", mode="min")
    s = Store(url).open_search("low", cfg.stored(task_spec="digits", epochs=1, metric="val_loss", mode="min"))
    for text, loss in losses:
        c = actsearch.parse(text)
        s.record(Result(key=c.key, text=c.text, score=loss, seed_scores=[loss], metric="val_loss", task="digits",
                        fingerprint=c.fingerprint()))
    return url


def test_the_leaderboard_ranks_a_min_search_ascending(tmp_path):
    from actsearch.results.leaderboard import leaderboard

    url = _min_search(tmp_path / "l.db", (("relu(x)", 0.30), ("x*tanh(x)", 0.20), ("abs(x)", 0.50),
                                          ("gelu(x)", 0.25)))
    df = leaderboard(url, "low")
    assert list(df["score"]) == [0.20, 0.25, 0.30, 0.50]  # lowest first, shown as measured
    assert df.loc[0, "gain_vs"] == "gelu" and df.loc[0, "gain"] == pytest.approx(0.05)  # better by 0.05
    assert df.loc[3, "gain"] == pytest.approx(-0.25)


def test_confirm_picks_the_lowest_in_min_mode(tmp_path):
    """confirm takes its top from the leaderboard's ranking, which is ascending for --mode min."""
    from actsearch.results.leaderboard import leaderboard
    from actsearch.search.confirm import pick_top
    from actsearch.store.view import StoreView

    url = _min_search(tmp_path / "c.db", (("relu(x)", 0.05), ("x*tanh(x)", 0.2), ("abs(x)", 0.5),
                                          ("x + sin(x)", 0.1)))
    entries = {e.id: e for e in StoreView(url).entries(["low"])}
    top = pick_top(leaderboard(url, "low"), entries, 2)  # relu is a reference: left out
    assert [c.text for c in top] == ["x + sin(x)", actsearch.parse("x*tanh(x)").text]


def test_another_metric_needs_its_mode(tmp_path, monkeypatch):
    from actsearch.search.run import run_search

    with pytest.raises(ActsearchError, match="--metric train_loss is not the task's own metric \\(val_accuracy\\): "
                                             "say whether a higher train_loss is better"):
        run_search(task="digits", metric="train_loss", storage="sqlite:///" + str(tmp_path / "m.db"))
    assert not (tmp_path / "m.db").exists()


def test_a_search_whose_references_all_fail_alike_stops(ray_session, tmp_path, monkeypatch):
    """A task that never gives the search's metric: the references fail with the same
    error, and the search stops in one line instead of training every candidate to failure."""
    from actsearch.search.run import run_search
    from actsearch.store import Store

    task = _user_task(tmp_path, monkeypatch, "    for e in range(budget):\n        report(e + 1, {'acc': 1 - loss})\n"
                      "    return {'acc': 1 - loss}\n")
    url = "sqlite:///" + str(tmp_path / "stop.db")
    with pytest.raises(ActsearchError) as err:
        run_search(task=task, metric="val_loss", mode="min", budget=12, workers=1, epochs=1, storage=url,
                   name="stops", backend="eager")
    text = str(err.value)
    assert text.startswith("search stopped: every reference failed with the same error: ") and "\n" not in text
    assert "nor its result gave 'val_loss' (report() gave: acc; it returned a dict with acc)" in text
    results = Store(url).results("stops")
    assert [r.name for r in results][:3] == ["relu", "gelu", "silu"] and len(results) < 12
    assert Store(url).search("stops").state == "interrupted"
