"""What the driver tells the progress display and the store while trials run (no Ray)."""

from __future__ import annotations

import pytest

import actsearch
from actsearch.result import Result
from actsearch.search.driver import Driver, QueueOnly, TrialDefaults
from actsearch.search.events import SearchEvents
from actsearch.search.trial.messages import TrialProgress
from actsearch.store import Store


class Seen(SearchEvents):
    def __init__(self):
        self.snapshots = []

    def trial_started(self, snapshot, text):
        self.snapshots.append(("started", text, snapshot))

    def trial_progress(self, snapshot, text):
        self.snapshots.append(("progress", text, snapshot))

    def trial_recorded(self, snapshot, result, note=""):
        self.snapshots.append(("recorded", result.text, snapshot))


def _driver(tmp_path, known):
    url = "sqlite:///" + str(tmp_path / "p.db")
    stored = Store(url).open_search("p", {"task": "digits", "epochs": 3, "seeds": 2})
    defaults = TrialDefaults(task="digits", task_options={}, task_spec="digits", metric="val_accuracy", epochs=3,
                             seeds=(0, 1), backend="eager", device="cpu", precision="fp32", early_stop=False,
                             trial_timeout=None)
    queue = [actsearch.parse(t) for t in ("relu(x)", "x*tanh(x)", "abs(x)")]
    events = Seen()
    return Driver(stored, QueueOnly(), queue, defaults, budget=2, known=known, events=events), events, stored


def test_copies_stay_out_of_done_and_running_trials_report_their_epochs(tmp_path):
    relu = actsearch.parse("relu(x)")
    copy = Result(key=relu.key, text=relu.text, score=0.6, reused_from="old", fingerprint=relu.fingerprint())
    driver, events, stored = _driver(tmp_path, {relu.fingerprint(): copy})
    driver.workers = 2
    spec = driver.suggest("t1")  # relu is copied on the way: x*tanh(x) is the first to train
    assert spec.text == "x*tanh(x)"
    kind, _, snap = events.snapshots[0]
    assert kind == "recorded" and snap.done == 0 and snap.copied == 1 and snap.budget == 2
    driver.progress("t1", TrialProgress(step=2, score=0.5, curves=[[0.4, 0.5]]))
    driver.progress("t1", TrialProgress(step=4, score=0.55, curves=[[0.4, 0.5, 0.52], [0.3]]))
    kind, text, snap = events.snapshots[-1]
    [running] = snap.running
    assert kind == "progress" and text == "x*tanh(x)"
    assert running.step == 4 and running.value == 0.3 and running.describe().startswith("seed 2/2 epoch 1/3  val_accuracy 0.3000  ")
    # the store has the curve so far: epoch -> mean over the seeds that reached it
    trial = stored.store.storage.get_trial(driver.trials["t1"])
    assert trial.state.name == "RUNNING" and trial.intermediate_values == {1: 0.35, 2: 0.5, 3: 0.52}
    driver.complete("t1", Result(key="k", text="x*tanh(x)", score=0.6, seed_scores=[0.6, 0.6],
                                 curves=[[0.4, 0.5, 0.52], [0.3, 0.5, 0.68]]))
    kind, _, snap = events.snapshots[-1]
    assert kind == "recorded" and snap.done == 1 and snap.copied == 1 and len(snap.durations) == 1
    assert snap.running == [] and snap.queued == 1
    finished = stored.store.storage.get_trial(trial._trial_id)
    assert finished.intermediate_values == pytest.approx({1: 0.35, 2: 0.5, 3: 0.6})
    driver.progress("t1", TrialProgress(step=6, score=0.6, curves=[[0.1]]))  # a late report changes nothing
    assert stored.store.storage.get_trial(trial._trial_id).intermediate_values == finished.intermediate_values
