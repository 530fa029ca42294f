"""Fault injection: bad input, failing candidates, lost workers, a killed driver,
numerical hazards, two writers on one store, and no user text reaching eval.

The user tasks below run inside Ray workers, which import this module as
``test_faults``: its folder goes on ``PYTHONPATH`` before the session's Ray starts
(collection happens before any fixture), and ``ACTSEARCH_FAULT_DIR`` is where the
tasks leave their side-channel files (one line per training call).
"""

from __future__ import annotations

import ast
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(TESTS_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys([TESTS_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
FAULT_DIR = os.environ.setdefault("ACTSEARCH_FAULT_DIR", tempfile.mkdtemp(prefix="actsearch-faults-"))

import actsearch  # noqa: E402
from actsearch.cli import main  # noqa: E402
from actsearch.store import Store  # noqa: E402


# -- user tasks (run in Ray workers) ---------------------------------------------------
def _value_at_one(act) -> float:
    import torch

    with torch.no_grad():
        return round(float(act(torch.tensor([1.0]))), 3)


def _log(name: str, line: str) -> None:
    with open(os.path.join(os.environ["ACTSEARCH_FAULT_DIR"], name), "a") as f:
        f.write(line + "\n")


def faulty(act_factory, budget, seed, report):
    """Misbehaves according to f(1) of the candidate ``x + k`` (so f(1) = 1 + k)."""
    import socket

    import torch

    act = act_factory()
    v = _value_at_one(act)
    _log("faulty.calls", str(v))
    if v == 2.0:
        raise ValueError("boom from the task")
    if v == 3.0:
        return {"score": float("nan")}
    if v == 4.0:
        raise MemoryError()
    if v == 5.0:  # never finishes on its own, and swallows everything: only a kill stops it
        while True:
            try:
                act(torch.ones(8))
                time.sleep(0.01)
            except:  # noqa: E722 - the point of the test
                pass
    if v == 6.0:
        marker = os.path.join(os.environ["ACTSEARCH_FAULT_DIR"], "killed-once")
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getppid(), signal.SIGKILL)  # the Ray worker (the trial's supervisor) dies mid-trial
            time.sleep(60)
    if v == 7.0:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    if v == 8.0:
        time.sleep(1000)  # blocked in C: no exception can land
    if v == 9.0:
        a, b = socket.socketpair()
        a.recv(1)  # blocked in C for ever
    if v == 10.0:
        os._exit(3)
    if v == 11.0:
        sys.exit(3)
    if v == 12.0:
        raise KeyboardInterrupt
    if v == 13.0:
        os.kill(os.getpid(), signal.SIGKILL)  # the process the task runs in dies: the candidate's doing
    if v == 14.0:
        return {"score": "high"}
    if v == 15.0:
        return {"score": 10**400}
    if v == 16.0:
        return {"curve": [0.5] * budget}
    for epoch in range(1, budget + 1):
        report(epoch, {"score": 0.5})
    return {"score": 0.5, "curve": [0.5] * budget}


def slow_counting(act_factory, budget, seed, report):
    """Logs each training call (by the candidate's outputs), takes ~0.6 s, scores finitely."""
    import torch

    act = act_factory()
    with torch.no_grad():
        y = act(torch.linspace(-3, 3, 13))
    _log("slow.calls", _key(y))
    time.sleep(0.6)
    score = 1.0 / (1.0 + float(y.abs().mean()))
    return {"score": score, "curve": [score] * budget}


#: the pytest process: the driver of the searches below (trial processes inherit it)
DRIVER_PID = int(os.environ.setdefault("ACTSEARCH_TEST_DRIVER_PID", str(os.getpid())))


def env_broken(**options):
    """A task that loads in the driver but not where the trials run (a missing dependency)."""
    if os.getpid() != DRIVER_PID:
        raise ModuleNotFoundError("No module named 'only_on_the_driver'")
    from actsearch.tasks import get_task

    return get_task("digits", **options)


def _key(y) -> str:
    return ",".join(f"{float(v):.4g}" for v in y)


def _key_of(text: str) -> str:
    import torch

    act = actsearch.compile(actsearch.parse(text), backend="eager")
    with torch.no_grad():
        return _key(act(torch.linspace(-3, 3, 13)))


def _url(path) -> str:
    return "sqlite:///" + str(path)


# -- 1. bad input: one line on stderr, exit code 2 --------------------------------------
@pytest.fixture()
def only_search(monkeypatch):
    import actsearch.cli

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search"])


def _fails(capsys, argv, *needles, limit=20.0):
    t0 = time.perf_counter()
    code = main(["search", *argv])
    took = time.perf_counter() - t0
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("actsearch: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    assert took < limit, f"{argv} took {took:.1f} s"
    return err


HOSTILE = [
    "__import__('os').system('echo pwned')",
    "x.__class__.__bases__",
    "lambda: 1",
    "x; import os",
    "(" * 300 + "x" + ")" * 300,
    "exp(" * 100 + "x" + ")" * 100,
    "open('/etc/passwd')",
    "x +",
    "1e999*x",
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_candidates_are_refused(capsys, tmp_path, only_search, text):
    pwned = tmp_path / "pwned"
    _fails(capsys, ["--candidates", text, "--storage", _url(tmp_path / "s.db")])
    assert not pwned.exists()
    # refused before the store was even created
    assert not (tmp_path / "s.db").exists()


def test_bad_names_and_numbers(capsys, tmp_path, only_search):
    url = _url(tmp_path / "s.db")
    _fails(capsys, ["--space", "nope", "--storage", url], "nope")
    _fails(capsys, ["--task", "nope", "--storage", url], "unknown task 'nope'")
    _fails(capsys, ["--task", "no_such_module:fn", "--storage", url], "no_such_module")
    _fails(capsys, ["--optimizer", "nope", "--storage", url], "unknown optimizer 'nope'")
    _fails(capsys, ["--budget", "0", "--storage", url], "budget")
    _fails(capsys, ["--budget", "-3", "--storage", url], "budget")
    _fails(capsys, ["--seeds", "0", "--storage", url], "seeds")
    _fails(capsys, ["--trial-timeout", "0", "--storage", url], "timeout")
    _fails(capsys, ["--resume", "--name", "ghost", "--task", "test_faults:faulty", "--storage", url],
           "cannot resume search 'ghost'")


def test_bad_storage(capsys, tmp_path, only_search):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    _fails(capsys, ["--storage", _url(afile / "x.db")], "is a file, not a folder")
    _fails(capsys, ["--storage", _url(tmp_path / "no" / "such" / "x.db")], "does not exist")
    assert not (tmp_path / "no").exists()
    _fails(capsys, ["--storage", "bogus://nowhere/x"], "cannot open results store")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
    _fails(capsys, ["--storage", _url(foreign)], "not an actsearch results store", "invoices")
    with sqlite3.connect(foreign) as con:  # and it was left exactly as it was
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["invoices"]
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(4096))
    _fails(capsys, ["--storage", _url(garbage)], "cannot open results store")


def test_unreachable_ray_address_fails_fast(capsys, tmp_path, only_search):
    url = _url(tmp_path / "s.db")
    _fails(capsys, ["--address", "127.0.0.1:1", "--storage", url], "cannot reach the Ray cluster", limit=10)
    err = _fails(capsys, ["--address", "ray://127.0.0.1:1", "--storage", url], "127.0.0.1:1", limit=10)
    assert "Ray Client (ray://) addresses are not supported" in err and "HOST:PORT" in err
    assert Store(url).searches() == []  # nothing half-created


def test_bad_loggers_and_files(capsys, tmp_path, only_search):
    url = _url(tmp_path / "s.db")
    _fails(capsys, ["--logger", "nope", "--storage", url], "unknown logger 'nope'", "csv, json, tensorboard")
    _fails(capsys, ["--task", "charlm", "--task-option", "path=no-such-corpus.txt", "--storage", url],
           "cannot read charlm text file 'no-such-corpus.txt': no such file")
    _fails(capsys, ["--working-dir", str(tmp_path / "nowhere"), "--storage", url], "is not a folder")
    _fails(capsys, ["--py-module", str(tmp_path / "nothing.txt"), "--storage", url], "is not a package folder")
    assert Store(url).searches() == []
    from actsearch.search import SearchConfig

    with pytest.raises(actsearch.ActsearchError, match="Ray Tune Callback objects"):
        SearchConfig(callbacks=[print]).check()


# -- 2, 4, 5. failing candidates, a lost worker, numerical hazards -----------------------
FAULTY = {"x + 1": ("error", "boom from the task", 1),
          "x + 2": ("nan", "non-finite", 1),
          "x + 3": ("error", "out of memory", 1),
          "x + 4": ("timeout", "time limit of 4 s", 1),  # a bare except: around its loop
          "x + 5": ("ok", "", 2),  # its Ray worker killed the first time: retried once
          "x + 6": ("error", "out of memory", 1),
          "x + 7": ("timeout", "time limit of 4 s", 1),  # time.sleep(1000)
          "x + 8": ("timeout", "time limit of 4 s", 1),  # socket recv
          "x + 9": ("error", "the task ended the worker process with exit code 3", 1),  # os._exit(3)
          "x + 10": ("error", "SystemExit: 3", 1),
          "x + 11": ("error", "KeyboardInterrupt", 1),
          "x + 12": ("error", "killed by SIGKILL", 1),
          "x + 13": ("error", "score 'high' (str), not a number", 1),
          "x + 14": ("error", "score too large for a float", 1),
          "x + 15": ("error", "returned no score", 1),
          "x/(x - 0.5)": ("nan", "rejected before training", 0),
          "exp(exp(x))": ("nan", "rejected before training: non-finite output", 0),
          "x/(1 + 0.3*x + 0.9*x**2 - 0.7*x**3)": ("nan", "denominator crosses zero near x=1.9", 0),
          "x**9*exp(x)": ("nan", "rejected before training", 0),
          "x*tanh(x)": ("ok", "", 1)}


@pytest.fixture(scope="module")
def faulty_search(ray_session, tmp_path_factory):
    """The search, what it printed (nothing: Ray's messages go to its log) and its notes."""
    import contextlib
    import io

    from actsearch.search import run_search
    from actsearch.search.events import SearchEvents

    class Notes(SearchEvents):
        def __init__(self):
            self.notes = []

        def note(self, message):
            self.notes.append(message)

        def warning(self, message):
            self.notes.append(message)

    url = _url(tmp_path_factory.mktemp("faulty") / "s.db")
    events, printed = Notes(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        # the candidates the screen rejects spend no training of the budget
        trainable = sum(1 for _, _, trained in FAULTY.values() if trained)
        outcome = run_search(task="test_faults:faulty", space="grammar", budget=trainable, workers=2, epochs=1,
                             candidates=list(FAULTY), storage=url, name="faulty", references=(), early_stop=False,
                             backend="eager", trial_timeout=4, max_failures=2, progress=events)
    outcome.printed, outcome.notes = printed.getvalue(), events.notes
    return outcome, url, time.perf_counter() - t0


def test_each_fault_is_recorded_with_its_reason(faulty_search):
    outcome, url, took = faulty_search
    assert outcome.finished
    results = Store(url).results("faulty")
    by_text = {r.text: r for r in results}
    assert len(results) == len(FAULTY) == len(by_text)
    rejected = sum(1 for _, _, trained in FAULTY.values() if not trained)
    assert (outcome.trained, outcome.rejected) == (len(FAULTY) - rejected, rejected)
    for text, (status, reason, _) in FAULTY.items():
        r = by_text[actsearch.parse(text).text]
        assert r.status == status, (text, r.status, r.message)
        assert reason in r.message, (text, r.message)
        assert (r.score is None) == (status != "ok")
    assert Store(url).search("faulty").inflight == []
    assert took < 120  # 20 trials, 7 of which end their process (a restart each), on 2 loaded cores


def test_failures_are_not_retried_but_a_lost_worker_is(faulty_search):
    with open(os.path.join(FAULT_DIR, "faulty.calls")) as f:
        calls = Counter(float(line) for line in f.read().split())
    for text, (_, _, trained) in FAULTY.items():
        if trained == 0:  # rejected by the screen: never handed to the task
            continue
        v = _value_at_one(actsearch.compile(actsearch.parse(text), backend="eager"))
        assert calls[v] == trained, (text, calls)


def test_a_lost_worker_is_one_line_and_ray_speaks_to_its_log(faulty_search):
    outcome, url, _ = faulty_search
    log = os.path.join(os.path.dirname(url[len("sqlite:///"):]), "ray", "faulty", "ray.log")
    assert outcome.printed == ""  # no raylet lines, no ActorDiedError traceback on the terminal
    lost = [n for n in outcome.notes if "was lost" in n]
    assert len(lost) == 1 and "x + 5" in lost[0] and "Tune retries the trial" in lost[0] and log in lost[0]
    with open(log) as f:
        assert "ActorDiedError" in f.read()


def test_trial_loggers_are_off_unless_asked(faulty_search):
    _, url, _ = faulty_search
    folder = os.path.join(os.path.dirname(url[len("sqlite:///"):]), "ray", "faulty")
    written = {name for _, _, files in os.walk(folder) for name in files}
    assert not written & {"progress.csv", "result.json"}


def test_kernel_ms_recorded(faulty_search):
    _, url, _ = faulty_search
    r = next(r for r in Store(url).results("faulty") if r.text == actsearch.parse("x*tanh(x)").text)
    assert 0.0 < r.kernel_ms < 1000.0
    rejected = next(r for r in Store(url).results("faulty") if r.text == actsearch.parse("exp(exp(x))").text)
    assert rejected.kernel_ms is None  # never measured: shown blank, not as 0 ms


@pytest.mark.parametrize("text", ["x/(x - 0.5)", "exp(exp(x))", "1/x", "log(x)", "x**40"])
def test_screen_rejects_hazards(text):
    from actsearch.search.trial.evaluate import screen

    assert screen(actsearch.parse(text)).startswith("rejected before training")


@pytest.mark.parametrize("text", ["x*tanh(x)", "x*sigmoid(x)", "exp(x)", "x**5", "x/(1 + abs(x))",
                                  "x*(1 + erf(x/sqrt(2)))/2"])
def test_screen_passes_ordinary_activations(text):
    from actsearch.search.trial.evaluate import screen

    assert screen(actsearch.parse(text)) == ""


def test_screen_finds_the_pole_of_a_rational():
    import numpy as np

    from actsearch.search.trial.evaluate import screen

    # version N style: 1 + b1 x + b2 x^2 + b3 x^3 has one real root, found independently by numpy
    b = (0.3, 0.9, -0.7)
    root = [r.real for r in np.roots([b[2], b[1], b[0], 1.0]) if abs(r.imag) < 1e-12][0]
    why = screen(actsearch.parse(f"x/(1 + {b[0]}*x + {b[1]}*x**2 + {b[2]}*x**3)"))
    assert why.startswith("rejected before training: a denominator crosses zero near x=")
    assert abs(float(why.rsplit("=", 1)[1]) - root) < 2e-3
    assert screen(actsearch.parse("x/(1 + abs(0.3*x + 0.9*x**2 - 0.7*x**3))")) == ""  # PAU's safe form


def test_timeout_stops_a_task_that_swallows_exceptions():
    from actsearch.search import TrialSpec
    from actsearch.search.trial.evaluate import evaluate

    def stubborn(*args):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a task's own error handling must not defeat the limit
                pass

    import actsearch.search.trial.evaluate as worker

    worker._TASKS['["stubborn", {}]'] = _FnTask(stubborn)
    t0 = time.perf_counter()
    out = evaluate(TrialSpec(text="x*tanh(x)", task="stubborn", epochs=1, seeds=(0,), backend="eager",
                             trial_timeout=1.0), report=lambda m: None)
    assert out.status == "timeout" and "1 s" in out.message
    assert 1.0 <= time.perf_counter() - t0 < 5.0


def test_a_task_the_workers_cannot_load_stops_the_search(ray_session, tmp_path):
    """It loads here, not where the trials run: one line naming the cause; nothing
    recorded against the candidates, which wait in flight for a resume."""
    from actsearch.search import run_search

    url = _url(tmp_path / "s.db")
    with pytest.raises(actsearch.ActsearchError) as info:
        run_search(task="test_faults:env_broken", optimizer=None, references=("relu", "gelu"), budget=2,
                   workers=2, epochs=1, storage=url, name="env", backend="eager", early_stop=False)
    message = str(info.value)
    assert "\n" not in message
    for needle in ("cannot load task 'test_faults:env_broken'", "No module named 'only_on_the_driver'",
                   "--working-dir", "--resume"):
        assert needle in message, message
    search = Store(url).search("env")
    assert search.state == "interrupted" and search.results() == []
    assert {c["text"] for c in search.inflight} == {"relu(x)", actsearch.preset("gelu").text}


def test_charlm_corpus_path_relative_to_where_the_search_starts(ray_session, tmp_path, monkeypatch):
    """The README's `--task charlm --task-option path=corpus.txt`: trials run in other folders."""
    from actsearch.search import run_search

    (tmp_path / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog; " * 60)
    monkeypatch.chdir(tmp_path)
    options = {"path": "corpus.txt", "steps_per_epoch": "2", "context": "16", "d_model": "16", "layers": "1",
               "val_windows": "8", "batch_size": "4"}
    outcome = run_search(task="charlm", task_options=options, optimizer=None, references=("relu",), budget=1,
                         workers=1, epochs=1, storage=_url(tmp_path / "s.db"), name="lm", backend="eager",
                         early_stop=False)
    [result] = outcome.results
    assert result.status == "ok", result.message
    assert str(tmp_path / "corpus.txt") in result.task  # the absolute path, in the task's spec


def test_experiment_loggers_and_callbacks(ray_session, tmp_path):
    """--logger csv/json/tensorboard write each trial's reports; Ray Tune callbacks see the
    trials; neither enters the stored configuration."""
    import importlib.util
    import json

    from ray.tune import Callback

    from actsearch.search import run_search

    class Recorder(Callback):
        def __init__(self):
            self.completed = []

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.completed.append(trial.config["text"])

    recorder = Recorder()
    tensorboard = importlib.util.find_spec("tensorboardX") is not None
    url = _url(tmp_path / "s.db")
    run_search(task="test_faults:faulty", optimizer=None, candidates=["x*tanh(x)"], references=(), budget=1,
               workers=1, epochs=2, storage=url, name="logged", backend="eager", early_stop=False,
               loggers=["csv", "json"] + (["tensorboard"] if tensorboard else []), callbacks=[recorder])
    assert recorder.completed == [actsearch.parse("x*tanh(x)").text]
    [trial_dir] = [d for d in (tmp_path / "ray" / "logged").iterdir() if d.is_dir()]
    rows = (trial_dir / "progress.csv").read_text().splitlines()
    assert "score" in rows[0].split(",") and len(rows) >= 2
    last = json.loads((trial_dir / "result.json").read_text().splitlines()[-1])
    assert last["score"] == 0.5 and json.loads(last["result"])["status"] == "ok"
    if tensorboard:
        assert list(trial_dir.glob("events.out.tfevents*"))
    assert "callbacks" not in Store(url).search("logged").config


class _FnTask:
    metric = "score"

    def __init__(self, fn):
        self.fn = fn

    def train(self, act_factory, budget, seed, report):
        return self.fn(act_factory, budget, seed, report)


# -- 3. driver killed hard, then --resume ------------------------------------------------
def _cli(args, env):
    return subprocess.Popen([sys.executable, "-m", "actsearch.cli", "search", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.mark.ray
@pytest.mark.subprocess
def test_killed_driver_resumes_without_training_twice(tmp_path):
    url = _url(tmp_path / "s.db")
    env = dict(os.environ, ACTSEARCH_FAULT_DIR=str(tmp_path))
    budget = 9
    args = ["--task", "test_faults:slow_counting", "--space", "grammar", "--optimizer", "random",
            "--budget", str(budget), "--workers", "2", "--epochs", "1", "--no-early-stop", "--backend", "eager",
            "--storage", url, "--name", "kr", "--seed", "3"]
    proc = _cli(args, env)
    try:
        deadline = time.time() + 120
        recorded = []
        while time.time() < deadline and proc.poll() is None:
            if (tmp_path / "s.db").exists():
                try:
                    recorded = Store(url).results("kr")
                except actsearch.ActsearchError:
                    recorded = []
                if len(recorded) >= 4:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # Ray processes the driver started
        except ProcessLookupError:
            pass
    before = Store(url).search("kr")
    recorded = before.results()
    inflight = before.inflight
    saved = before.optimizer_state
    assert before.state == "running"  # killed: it never got to say otherwise
    assert before.optimizer_state
    assert 4 <= len(recorded) < budget
    time.sleep(0.5)
    resumed = _cli(args + ["--resume"], env)
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err.decode()[-2000:]
    after = Store(url).search("kr")
    results = after.results()
    assert after.state == "finished" and after.inflight == []
    # the resumed optimiser continued from the saved state: its counters carry on
    final = after.optimizer_state
    assert final["told"] >= saved["told"] + (budget - len(recorded)) and final["asked"] >= saved["asked"]
    assert len(results) == budget
    fps = [r.fingerprint for r in results]
    assert len(set(fps)) == len(fps)  # every evaluation once
    assert [r.text for r in results[:len(recorded)]] == [r.text for r in recorded]
    calls = Counter((tmp_path / "slow.calls").read_text().split())
    for r in recorded:  # finished before the kill: never trained again
        if r.status == "ok":
            assert calls[_key_of(r.text)] == 1, r.text
    lost = {actsearch.parse(c["text"]).text for c in inflight}
    for r in results:
        if r.status == "ok":
            assert 1 <= calls[_key_of(r.text)] <= (2 if r.text in lost else 1), r.text
    assert lost <= {r.text for r in results}  # in flight at the kill: trained after the resume
    print(f"\nkilled after {len(recorded)} records with {len(inflight)} in flight; resumed to {len(results)}")


# -- 6. two writers on one SQLite store ---------------------------------------------------
_WRITER = """
import sys
from actsearch.store import Store
from actsearch.result import Result
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = Store(url).open_search(name, {"task": "t", "epochs": 1, "seeds": 1})
for i in range(n):
    s.record(Result(key=f"{name}{i}", text=f"x + {i}", score=i / n, fingerprint=f"{name}-{i}"),
             optimizer_state={"i": i})
print("done")
"""


@pytest.mark.subprocess
def test_two_processes_write_one_store(tmp_path):
    url = _url(tmp_path / "shared.db")
    Store(url)  # create the schema first, as the first search would
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, name, str(n)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name in ("a", "b")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-1500:] for o in outs]
    store = Store(url)
    for name in ("a", "b"):
        results = store.results(name)
        assert [r.text for r in results] == [actsearch.parse(f"x + {i}").text for i in range(n)] or \
            [r.text for r in results] == [f"x + {i}" for i in range(n)]
        assert store.search(name).optimizer_state == {"i": n - 1}
    with sqlite3.connect(tmp_path / "shared.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_name_twice_at_once_refuses_one(tmp_path):
    url = _url(tmp_path / "race.db")
    Store(url)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def create():
        store = Store(url)
        barrier.wait()
        try:
            store.open_search("same", {"task": "t", "epochs": 1, "seeds": 1})
            outcomes.append("ok")
        except actsearch.ActsearchError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=create) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes)[0] == "ok"
    assert "already exists" in sorted(outcomes)[1] and "--resume" in sorted(outcomes)[1]
    assert len([s for s in Store(url).searches() if s["name"] == "same"]) == 1


# -- 7. no user text reaches eval/exec/sympify/pickle.loads ------------------------------
def _forbid_dynamic_code(monkeypatch) -> list[str]:
    """From now on eval/exec of text, sympify/parse_expr of a string and pickle.loads
    raise (and are logged).  Import what the code under test needs first: imports and
    dataclass definitions exec generated text legitimately."""
    import builtins
    import pickle

    import sympy

    calls: list[str] = []

    real = {"eval": builtins.eval, "exec": builtins.exec}

    def refuse(name):
        # importing a module execs its code object; text (or bytes) is what user input would be
        def fn(*args, **kwargs):
            if name in real and args and not isinstance(args[0], (str, bytes)):
                return real[name](*args, **kwargs)
            calls.append(name)
            raise AssertionError(f"{name} called with {str(args)[:80]}")
        return fn

    real_sympify = sympy.sympify

    def sympify(a, *args, **kwargs):  # sympy calls it on its own objects; strings are what matter
        if isinstance(a, str):
            calls.append("sympify")
            raise AssertionError(f"sympify called on {a!r}")
        return real_sympify(a, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", refuse("eval"))
    monkeypatch.setattr(builtins, "exec", refuse("exec"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    monkeypatch.setattr(sympy, "sympify", sympify)
    monkeypatch.setattr(sys.modules["sympy.core.sympify"], "sympify", sympify)
    import sympy.parsing.sympy_parser as sympy_parser

    monkeypatch.setattr(sympy_parser, "parse_expr", refuse("parse_expr"))
    return calls


def _many_candidates():
    import numpy as np

    from actsearch.registry import preset, presets, space

    cands = [preset(n) for n in presets()]
    rng = np.random.default_rng(0)
    for name in ("grammar", "rational", "polynomial"):
        s = space(name)
        cands += [s.sample(rng) for _ in range(15)]
    return cands


def _parse_compile_export(cands):
    import torch

    from actsearch.results.export import export_source

    x = torch.linspace(-3, 3, 7)
    for cand in cands:
        again = actsearch.parse(cand.text, family=cand.family)
        module = actsearch.compile(again, backend="eager")
        module(x)
        export_source(again)
    for text in HOSTILE:
        with pytest.raises(actsearch.ActsearchError):
            actsearch.parse(text)


def test_parse_compile_export_use_no_dynamic_code(monkeypatch):
    cands = _many_candidates()
    assert len(cands) > 40
    _parse_compile_export(cands[:3])  # imports done
    calls = _forbid_dynamic_code(monkeypatch)
    _parse_compile_export(cands)
    assert calls == []


def test_exported_module_is_plain_source_with_literal_numbers():
    from actsearch.results.export import export_source

    cand = actsearch.parse("a*x*tanh(b*x) + c*x; a=1.25, b=0.75, c=-0.125")
    tree = ast.parse(export_source(cand))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"eval", "exec", "compile", "__import__", "pickle", "getattr", "open"}
    imports = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               for a in n.names} | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imports <= {"torch", "torch.nn.functional", "nn", "math", "__future__", "annotations", "torch.nn"}
    initial = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                   and any(getattr(t, "id", "") == "INITIAL" for t in n.targets))
    assert ast.literal_eval(initial) == {"a": 1.25, "b": 0.75, "c": -0.125}


def test_random_strings_never_reach_dynamic_code(monkeypatch):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("x()+-*/^.,;=_ 0123456789eabcdpiosqrtlgnh'\"[]{}:@!\\"))

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.text(alphabet, max_size=40))
    def check(text):
        with pytest.MonkeyPatch.context() as mp:  # hypothesis itself execs text between examples
            calls = _forbid_dynamic_code(mp)
            try:
                actsearch.parse(text)
            except actsearch.ActsearchError:
                pass
        assert calls == []

    check()
