"""A candidate a search does not train is never dropped without a word: a queued formula
that is the same function as one already trained gets a note naming both, and a
candidate in flight that the parser now refuses is recorded as failed with the reason."""

from __future__ import annotations

from types import SimpleNamespace

import actsearch
from actsearch.search.driver import Driver, QueueOnly, TrialDefaults
from actsearch.search.events import SearchEvents
from actsearch.store import Store


class _Said(SearchEvents):
    def __init__(self):
        self.lines = []

    def note(self, message: str) -> None:
        self.lines.append(message)

    def warning(self, message: str) -> None:
        self.lines.append(message)


DEFAULTS = TrialDefaults(task="t", task_options={}, task_spec="t", metric="score", epochs=1, seeds=(0,),
                         backend="eager", device="cpu", precision="fp32", early_stop=False, trial_timeout=None)


def test_a_queued_formula_of_the_same_function_is_named_not_dropped(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    lease = store.lease("s")
    try:
        stored = store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
        # two formulas of one function (on every probe point), so trained once
        first, second = actsearch.parse("abs(x)"), actsearch.parse("relu(x) + relu(-x)")
        assert first.fingerprint() == second.fingerprint() and first.text != second.text
        said = _Said()
        driver = Driver(stored, QueueOnly(), [first, second], DEFAULTS, budget=2, known={}, events=said)
        assert driver.suggest("a").text == first.text
        assert driver.suggest("b") is None  # nothing else to train
        assert any(second.text in line and first.text in line and "same function" in line for line in said.lines)
    finally:
        lease.release()


def test_an_in_flight_candidate_refused_on_resume_is_recorded_as_failed(tmp_path):
    from actsearch.search import SearchConfig
    from actsearch.search.run import _TrialSetup
    from actsearch.search.run import _driver as build_driver
    from actsearch.tasks import get_task

    url = f"sqlite:///{tmp_path / 's.db'}"
    store = Store(url)
    task = get_task("digits")
    config = SearchConfig(task="digits", epochs=1, budget=5, optimizer=None, name="s", storage=url)
    lease = store.lease("s")
    stored = store.open_search("s", config.stored(task_spec=task.spec, epochs=1, metric=task.metric), lease=lease)
    # what an older parser accepted and this one refuses (x**2/x is 0/0 at x = 0, not x)
    stale = SimpleNamespace(text="x**2/x", family="custom", name=None, key="0" * 16, params={})
    stored.start(stale, "fp-of-the-stale-text")
    lease.release()  # the driver died with it in flight

    lease = store.lease("s")
    try:
        again = store.open_search("s", config.stored(task_spec=task.spec, epochs=1, metric=task.metric),
                                  resume=True, lease=lease)
        said = _Said()
        resumed = SearchConfig(task="digits", epochs=1, budget=5, optimizer=None, name="s", storage=url, resume=True)
        build_driver(resumed, again, QueueOnly(), [], task, 1, SimpleNamespace(device="cpu", cpus_per_trial=1), store,
                     said, _TrialSetup({}, "digits", task.metric, "max", set()))
        [refused] = [r for r in again.results() if r.text == "x**2/x"]
        assert refused.status == "error" and "refused on resume" in refused.message and "0/0" in refused.message
        assert any("x**2/x: refused on resume" in line for line in said.lines)
        assert again.inflight == []  # not offered again on the next resume
    finally:
        lease.release()


class _Proposes:
    """An optimiser that proposes the given formulas in order, then nothing; keeps what it is told."""

    name = "list"

    def __init__(self, texts):
        self.texts, self.told = list(texts), []

    def ask(self):
        return actsearch.parse(self.texts.pop(0)) if self.texts else None

    def tell(self, candidate, result):
        self.told.append((candidate.text, result.status))

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_a_rejected_proposal_is_recorded_and_told_but_spends_no_training(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    lease = store.lease("s")
    try:
        stored = store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
        bad = ["exp(exp(x))", "1/(x - 0.5)"]  # an overflow, a pole: both fail the screen
        opt = _Proposes([bad[0], "tanh(x)", bad[1], "x*sigmoid(x)", "softsign(x)"])
        driver = Driver(stored, opt, [], DEFAULTS, budget=2, known={})
        specs = [driver.suggest("a"), driver.suggest("b")]
        assert [s.text for s in specs] == [actsearch.parse("tanh(x)").text, actsearch.parse("x*sigmoid(x)").text]
        assert driver.suggest("c") is None  # the budget is two trainings, both handed out
        assert driver.rejected == 2 and driver.launched == 2 and driver.trained == 0
        recorded = {r.text: r for r in stored.results()}
        for text in bad:
            r = recorded[actsearch.parse(text).text]
            assert r.status == "nan" and r.message.startswith("rejected before training: "), r
        assert [status for _, status in opt.told] == ["nan", "nan"]  # each told once, as failed
    finally:
        lease.release()
    # a resumed search does not count them as trainings either
    lease = store.lease("s")
    try:
        again = store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}, resume=True, lease=lease)
        resumed = Driver(again, _Proposes([]), [], DEFAULTS, budget=2, known={})
        assert (resumed.trained, resumed.rejected) == (0, 2)
        shown = resumed.snapshot()
        assert shown.copied == 0 and shown.durations == []  # neither copies nor trainings of the ETA
    finally:
        lease.release()
    # nor is a rejection copied into another search: it is screened there again (milliseconds)
    lease = store.lease("other")
    try:
        other = store.open_search("other", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
        known = {r.fingerprint: r for r in stored.results()}
        bad_fp = actsearch.parse(bad[0]).fingerprint()
        driver = Driver(other, _Proposes([bad[0], "tanh(x)"]), [], DEFAULTS, budget=1, known=known)
        assert bad_fp in known and driver.suggest("a").text == "tanh(x)"
        assert (driver.rejected, driver.reused, driver.launched) == (1, 0, 1)  # rejected again, not copied
    finally:
        lease.release()


def test_proposals_that_are_all_rejected_end_the_search_with_a_note(tmp_path, monkeypatch):
    from actsearch.search import driver as driver_module

    monkeypatch.setattr(driver_module, "MAX_REJECTED_IN_A_ROW", 3)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    lease = store.lease("s")
    try:
        stored = store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
        said = _Said()
        opt = _Proposes(["exp(exp(x))", "1/(x - 0.5)", "exp(x**3)", "tanh(x)"])
        driver = Driver(stored, opt, [], DEFAULTS, budget=5, known={}, events=said)
        assert driver.suggest("a") is None
        assert driver.rejected == 3 and opt.texts == ["tanh(x)"]  # not asked once more
        assert any("last 3 proposals were all rejected before training" in line for line in said.lines)
    finally:
        lease.release()
