"""The default trial time limit: a multiple of the slowest reference's measured time, with a
floor, replaced by --trial-timeout; the driver hands it to every trial it starts."""

from __future__ import annotations

from types import SimpleNamespace

import actsearch
from actsearch.registry import preset
from actsearch.result import Result
from actsearch.search import time_limit
from actsearch.search.driver import Driver, QueueOnly, TrialDefaults
from actsearch.search.events import SearchEvents
from actsearch.search.time_limit import FACTOR, FLOOR, UNMEASURED, TrialTimeLimit
from actsearch.store import Store

REFS = ("relu", "gelu", "silu")


def _ref(name: str, wall: float, status: str = "ok") -> Result:
    c = preset(name)
    return Result(key=c.key, text=c.text, family="reference", fingerprint=c.fingerprint(), status=status,
                  wall_time=wall)


def _fps() -> set[str]:
    return {preset(r).fingerprint() for r in REFS}


def test_the_rule():
    limit = TrialTimeLimit(None, _fps())
    assert limit.seconds() == UNMEASURED and "until a reference has been timed" in limit.describe()
    assert limit.observe(_ref("relu", 2.0))
    assert limit.seconds() == FLOOR  # 10 x 2 s is under the floor
    assert limit.observe(_ref("gelu", 30.0)) and limit.seconds() == FACTOR * 30.0
    assert not limit.observe(_ref("silu", 12.0))  # not the slowest: no change
    assert not limit.observe(_ref("silu", 90.0, status="timeout"))  # only completed runs are measured
    other = actsearch.parse("x*tanh(x)")
    assert not limit.observe(Result(key=other.key, text=other.text, fingerprint=other.fingerprint(), wall_time=99.0))
    assert limit.seconds() == 300.0 and "10 x the slowest reference's 30.0 s" in limit.describe()


def test_a_given_limit_replaces_the_rule():
    limit = TrialTimeLimit(45.0, _fps(), [_ref("relu", 100.0)])
    assert limit.seconds() == 45.0 and not limit.observe(_ref("gelu", 500.0)) and limit.seconds() == 45.0
    assert "--trial-timeout" in limit.describe()


class _Notes(SearchEvents):
    def __init__(self):
        self.notes = []

    def note(self, message: str) -> None:
        self.notes.append(message)


def _driver(tmp_path, given, known=()):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    lease = store.lease("s")
    stored = store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
    queue = [preset(r) for r in REFS] + [actsearch.parse(t) for t in ("x*tanh(x)", "abs(x)", "x*sigmoid(2*x)")]
    defaults = TrialDefaults(task="t", task_options={}, task_spec="t", metric="score", epochs=1, seeds=(0,),
                             backend="eager", device="cpu", precision="fp32", early_stop=False, trial_timeout=given)
    events = _Notes()
    limit = TrialTimeLimit(given, _fps(), known)
    return Driver(stored, QueueOnly(), queue, defaults, budget=6, known={}, events=events,
                  time_limit=limit), events, lease


def test_the_driver_starts_trials_with_the_limit_the_references_set(tmp_path):
    driver, events, lease = _driver(tmp_path, None)
    try:
        specs = [driver.suggest(i) for i in ("r1", "r2", "r3", "c1")]
        assert [s.trial_timeout for s in specs] == [UNMEASURED] * 4  # nothing timed yet
        driver.complete("r1", _ref("relu", 9.0))
        driver.complete("r2", _ref("gelu", 14.0))
        assert driver.suggest("c2").trial_timeout == FACTOR * 14.0
        assert [n for n in events.notes if n.startswith("trial time limit")][-1].startswith("trial time limit: 140 s")
    finally:
        lease.release()


def test_references_timed_before_set_the_limit_from_the_first_trial(tmp_path):
    driver, _, lease = _driver(tmp_path, None, known=[_ref("silu", 20.0)])
    try:
        assert driver.suggest("r1").trial_timeout == FACTOR * 20.0
    finally:
        lease.release()


def test_trial_timeout_given_is_used_as_is(tmp_path):
    driver, _, lease = _driver(tmp_path, 33.0)
    try:
        driver.suggest("r1")
        driver.complete("r1", _ref("relu", 100.0))
        assert driver.suggest("r2").trial_timeout == 33.0
    finally:
        lease.release()


def test_run_search_gives_the_driver_the_default_from_earlier_searches(tmp_path):
    """The wiring in run.py: references measured by an earlier search of the task set the
    limit before this search has timed anything, and the search says so."""
    from actsearch.search import SearchConfig
    from actsearch.search.run import _TrialSetup
    from actsearch.search.run import _driver as build_driver
    from actsearch.tasks import get_task

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    task = get_task("digits")
    lease = store.lease("old")
    old = store.open_search("old", {"task": "digits", "epochs": 1, "seeds": 1}, lease=lease)
    relu = preset("relu")
    trial = old.start(relu, relu.fingerprint(), True)
    old.record(Result(key=relu.key, text=relu.text, family="reference", fingerprint=relu.fingerprint(), score=0.9,
                      task=task.spec, epochs=1, seeds=1, first_seed=0, wall_time=8.0), trial=trial)
    lease.release()

    config = SearchConfig(task="digits", epochs=1, budget=4, optimizer=None)
    lease = store.lease("new")
    try:
        stored = store.open_search("new", config.stored(task_spec=task.spec, epochs=1, metric=task.metric),
                                   lease=lease)
        events = _Notes()
        driver = build_driver(config, stored, QueueOnly(), [], task, 1, SimpleNamespace(device="cpu", cpus_per_trial=1),
                              store, events, _TrialSetup({}, "digits", task.metric, "max", set()))
        assert driver.suggest("t1").trial_timeout == max(FLOOR, FACTOR * 8.0)
        assert any(n.startswith("trial time limit: 80 s") for n in events.notes)
    finally:
        lease.release()


def test_the_constants_are_what_the_help_says():
    from actsearch.cli import build_parser

    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["search"].format_help().split())
    assert f"default: {time_limit.FACTOR:g} x the slowest reference's time, at least {time_limit.FLOOR:g} s" in help_text
