"""The results store: round trips, trial states, running trials, foreign databases, masked URLs,
and what optuna-dashboard reads."""

from __future__ import annotations

import sqlite3

import optuna
import pytest

import actsearch
from actsearch.store.url import scrub
from actsearch.errors import StoreError
from actsearch.result import Result
from actsearch.store import SCHEMA, Store, masked


@pytest.fixture
def url(tmp_path):
    return "sqlite:///" + str(tmp_path / "sub" / "r.db")


def _result(text="relu(x)", status="ok", score=0.75, **extra):
    base = {"fingerprint": f"fp-{text}", "task": "digits", "epochs": 2, "seeds": 2, "train_time": 1.5,
            "name": "", "reused_from": ""}
    base.update(extra)
    return Result(key=f"k-{text}", text=text, family="grammar", status=status, score=score,
                  metric="val_accuracy", seed_scores=[0.7, 0.8] if score is not None else [],
                  spread=0.05, curves=[[0.5, 0.7], [0.6, 0.8]], learned_params=[{"a": 0.25}, {"a": -1.5}],
                  wall_time=3.0, message="" if status == "ok" else "non-finite training loss", **base)


def test_round_trip_and_states(url):
    store = Store(url)  # creates the missing folder
    s = store.open_search("one", {"task": "digits", "epochs": 2, "seeds": 2, "space": "grammar"})
    ok, bad, pruned = _result(), _result("exp(exp(x))", "nan", None), _result("abs(x)", "pruned", 0.5)
    for r in (ok, bad, pruned):
        s.record(r, optimizer_state={"asked": 3, "rng": {"state": 12345678901234567890}})
    back = Store(url).results("one")
    assert [r.text for r in back] == ["relu(x)", "exp(exp(x))", "abs(x)"]
    for orig, got in zip((ok, bad, pruned), back):
        for field in ("key", "text", "family", "status", "score", "metric", "seed_scores", "spread",
                      "curves", "learned_params", "wall_time", "message"):
            assert getattr(got, field) == getattr(orig, field), field
        assert got.fingerprint == orig.fingerprint
    trials = optuna.load_study(study_name="one", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "PRUNED"]
    assert trials[0].value == 0.75 and trials[1].value is None
    # intermediate values hold the mean curve over seeds
    assert trials[0].intermediate_values == {1: pytest.approx(0.55), 2: pytest.approx(0.75)}
    search = Store(url).search("one")
    assert search.optimizer_state == {"asked": 3, "rng": {"state": 12345678901234567890}}
    assert search.config["task"] == "digits" and search.state == "running"
    assert [x["name"] for x in Store(url).searches()] == ["one"]
    df = Store(url).dataframe("one")
    assert list(df["status"]) == ["ok", "nan", "pruned"]


def test_evaluated_matches_task_epochs_and_seeds(url):
    store = Store(url)
    store.open_search("a", {"task": "digits"}).record(_result())
    store.open_search("b", {"task": "digits"}).record(_result("abs(x)", epochs=3))
    found = store.evaluated("digits", 2, 2)
    assert set(found) == {"fp-relu(x)"} and found["fp-relu(x)"].reused_from == "a"
    assert store.evaluated("digits", 3, 2).keys() == {"fp-abs(x)"}
    assert store.evaluated("digits", 2, 1) == {}
    assert store.evaluated("mnist1d-mlp", 2, 2) == {}


def test_evaluated_matches_training_seeds_and_trusts_completed_runs(url):
    store = Store(url)
    # an older record: no first_seed stored, trained from its search's --seed 5
    store.open_search("old", {"task": "digits", "seed": 5}).record(_result())
    assert "first_seed" not in store.storage.get_all_trials(store.search("old").study_id)[0].user_attrs
    assert store.evaluated("digits", 2, 2, first_seed=0) == {}
    found = store.evaluated("digits", 2, 2, first_seed=5)
    assert found["fp-relu(x)"].first_seed == 5
    s = store.open_search("new", {"task": "digits", "seed": 1})
    s.record(_result("abs(x)", "pruned", 0.5, first_seed=1))
    s.record(_result("tanh(x)", "error", None, first_seed=1))
    s.record(_result("sin(x)", "timeout", None, first_seed=1))
    assert set(store.evaluated("digits", 2, 2, first_seed=1)) == {"fp-abs(x)"}  # no errors, no timeouts
    store.open_search("later", {"task": "digits", "seed": 1}).record(_result("abs(x)", first_seed=1))
    assert store.evaluated("digits", 2, 2, first_seed=1)["fp-abs(x)"].status == "ok"  # preferred to pruned


def test_existing_name_needs_resume_and_same_config(url):
    store = Store(url)
    store.open_search("s", {"task": "digits", "epochs": 2})
    with pytest.raises(StoreError, match="already exists"):
        store.open_search("s", {"task": "digits", "epochs": 2})
    with pytest.raises(StoreError, match="task"):
        store.open_search("s", {"task": "charlm", "epochs": 2}, resume=True)
    assert store.open_search("s", {"task": "digits", "epochs": 2}, resume=True).name == "s"
    with pytest.raises(StoreError, match="not in"):
        store.open_search("missing", {}, resume=True)
    with pytest.raises(StoreError, match="no search named 'nope'"):
        store.results("nope")


def test_foreign_databases_are_refused(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("create table invoices (id integer)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an actsearch results store"):
        Store(f"sqlite:///{path}")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(f"sqlite:///{garbage}")
    # an Optuna study that actsearch did not write
    plain = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="theirs", storage=plain)
    store = Store(plain)
    with pytest.raises(StoreError, match="not an actsearch search"):
        store.results("theirs")
    with pytest.raises(StoreError, match="not an actsearch search"):
        store.open_search("theirs", {}, resume=True)
    assert store.searches() == []
    assert SCHEMA == "actsearch/1"


def test_trials_run_from_hand_out_to_record(url):
    """A started candidate is a RUNNING trial (what the dashboard shows live), not a result;
    left running by a driver that died, it is marked interrupted on resume and stays in flight."""
    relu, tanh = actsearch.parse("relu(x)"), actsearch.parse("a*tanh(x); a=0.5", family="rational")
    store = Store(url)
    lease = store.lease("s")
    s = store.open_search("s", {"task": "digits", "epochs": 2, "seeds": 2, "space": "rational",
                                "metric": "val_accuracy"}, lease=lease)
    first = s.start(relu, relu.fingerprint(), protected=True)
    s.start(tanh, tanh.fingerprint())
    s.record(_result("relu(x)", fingerprint=relu.fingerprint()), trial=first)
    study = optuna.load_study(study_name="s", storage=url)
    assert study.metric_names == ["val_accuracy"]
    done, running = study.trials
    assert done.state.name == "COMPLETE" and running.state.name == "RUNNING"
    assert done.datetime_start < done.datetime_complete
    assert done.params == {"family": "custom", "formula": "relu(x)"}
    assert running.params == {"family": "rational", "a": 0.5, "formula": tanh.text}
    assert running.distributions["a"] == optuna.distributions.FloatDistribution(0, 1)  # the decade of its value
    assert [r.text for r in s.results()] == ["relu(x)"]
    assert s.inflight == [{"text": tanh.text, "family": "rational", "name": "", "protected": False,
                           "fingerprint": tanh.fingerprint()}]
    lease.release()  # its driver is gone without closing the search: the trial is still RUNNING
    lease = Store(url).lease("s")
    again = Store(url).open_search("s", {"task": "digits"}, resume=True, lease=lease)
    interrupted = optuna.load_study(study_name="s", storage=url).trials[1]
    assert interrupted.state.name == "FAIL" and "interrupted" in interrupted.user_attrs
    assert [r.text for r in again.results()] == ["relu(x)"] and len(again.inflight) == 1
    trial = again.start(tanh, tanh.fingerprint())
    again.record(_result(tanh.text, fingerprint=tanh.fingerprint()), trial=trial)
    assert again.inflight == [] and [r.text for r in again.results()] == ["relu(x)", tanh.text]
    again.set_state("finished")
    lease.release()
    assert [x["n_trials"] for x in Store(url).searches()] == [2]  # recorded candidates only


def test_what_the_dashboard_reads_formulas_ranges_and_no_optimiser_state(url):
    """A formula param on every trial (copies too), though Optuna's own checks refuse
    changing choices; ranges from the values; the optimiser's state out of the study's
    user attributes; older stores that kept it there still read."""
    store = Store(url)
    s = store.open_search("f", {"task": "digits", "epochs": 2, "seeds": 2, "space": "grammar"})
    texts = ["x*tanh(x)", "abs(x) + sin(x)"]
    for text in texts:
        c = actsearch.parse(text)
        s.record(_result(c.text, fingerprint=c.fingerprint()), trial=s.start(c, c.fingerprint()),
                 optimizer_state={"rng": {"state": 7}})
    s.record(_result("x*sigmoid(x)", reused_from="other"), params={"w": -0.002, "b": 0.0})  # a copy
    study = optuna.load_study(study_name="f", storage=url)
    assert [t.params["formula"] for t in study.trials] == [actsearch.parse(t).text for t in texts] + ["x*sigmoid(x)"]
    copy = study.trials[-1]
    assert copy.state.name == "COMPLETE" and copy.distributions["w"] == optuna.distributions.FloatDistribution(-0.01, 0)
    assert copy.distributions["b"] == optuna.distributions.FloatDistribution(0, 0)
    assert "optimizer" not in study.user_attrs and s.optimizer_state == {"rng": {"state": 7}}
    # a store written before: the state among the user attributes
    old = store.open_search("old", {"task": "digits"})
    store.storage.set_study_user_attr(old.study_id, "optimizer", {"asked": 2})
    assert Store(url).search("old").optimizer_state == {"asked": 2}


@pytest.mark.parametrize("url_in, shown, secret", [
    ("postgresql://ana:pa55@db:5432/r", "postgresql://ana:***@db:5432/r", "pa55"),
    ("postgresql+psycopg://ana:p%40ss:w@db/r?sslmode=require", "postgresql+psycopg://ana:***@db/r?sslmode=require",
     "p@ss:w"),
    ("postgresql://db/r?user=ana&password=pa55", "postgresql://db/r?user=ana&password=***", "pa55"),
    ("postgresql://ana@db/r", "postgresql://ana@db/r", None),
    ("postgresql://db:5432/r", "postgresql://db:5432/r", None),
    ("sqlite:///results/actsearch.db", "sqlite:///results/actsearch.db", None),
])
def test_masked_urls(url_in, shown, secret):
    assert masked(url_in) == shown
    if secret:  # a driver's message may quote the URL or the password itself (decoded)
        said = scrub(f"failed for {url_in}: password {secret!r} rejected", url_in)
        assert secret not in said and url_in not in said and "***" in said


@pytest.mark.filterwarnings("ignore:Some regimes for parameter")  # importance from 4 trials: rough, but it runs
def test_the_dashboard_sees_a_real_search(ray_session, tmp_path):
    """What optuna-dashboard reads, after and during a real small search: params with
    distributions (importance works), metric names, start and end times, RUNNING trials."""
    from actsearch.search import run_search
    from actsearch.search.events import SearchEvents

    url = "sqlite:///" + str(tmp_path / "d.db")
    seen_running = []

    class Watch(SearchEvents):
        def trial_started(self, snapshot, text):
            trials = optuna.load_study(study_name="dash", storage=url).trials
            seen_running.append([t.user_attrs["text"] for t in trials if t.state.name == "RUNNING"])

    outcome = run_search(task="digits", space="rational", budget=4, epochs=2, workers=2, storage=url, name="dash",
                         references=("relu",), results_dir=str(tmp_path / "ray"), progress=Watch())
    assert outcome.finished and len(Store(url).results("dash")) == 4
    assert len(seen_running) == 4 and all(seen_running)
    study = optuna.load_study(study_name="dash", storage=url)
    assert study.metric_names == ["val_accuracy"]
    assert [t.state.name for t in study.trials].count("RUNNING") == 0
    for t in study.trials:
        assert t.datetime_start < t.datetime_complete
        assert t.params["family"] == t.user_attrs["family"] and t.params["formula"] == t.user_attrs["text"]
        if t.state.name == "COMPLETE":
            assert sorted(t.intermediate_values) == [1, 2]  # the mean curve over the seeds
        if t.user_attrs["family"] == "rational":
            assert {"a0", "b1"} <= set(t.params)
            assert isinstance(t.distributions["a0"], optuna.distributions.FloatDistribution)
    assert "family" in optuna.importance.get_param_importances(study)
