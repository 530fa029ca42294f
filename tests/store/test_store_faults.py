"""Fault injection on the results store: two drivers on one search, a driver killed
while creating or running a search, foreign and damaged databases, a full disk, a
read-only folder, and passwords in messages.

The search tasks below run inside Ray workers, which import this module as
``test_store_faults`` (its folder is put on ``PYTHONPATH`` before Ray starts).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(TESTS_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys([TESTS_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

import optuna  # noqa: E402

import actsearch  # noqa: E402
from actsearch.store.lease import holder  # noqa: E402
from actsearch.cli import main  # noqa: E402
from actsearch.errors import StoreError  # noqa: E402
from actsearch.result import Result  # noqa: E402
from actsearch.store import Store  # noqa: E402


# -- a task for the searches below (runs in Ray workers; marked: resumes read it from the store)
@actsearch.task
def steady(act_factory, budget, seed, report):
    """Takes ~1 s per run, logs each run by the candidate's outputs, scores finitely."""
    import torch

    act = act_factory()
    with torch.no_grad():
        y = act(torch.linspace(-3, 3, 13))
    log = os.environ.get("ACTSEARCH_STEADY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(",".join(f"{float(v):.4g}" for v in y) + "\n")
    time.sleep(1.0)
    score = 1.0 / (1.0 + float(y.abs().mean()))
    for epoch in range(1, budget + 1):
        report(epoch, {"score": score})
    return {"score": score, "curve": [score] * budget}


# -- helpers ------------------------------------------------------------------------------
def _url(path) -> str:
    return "sqlite:///" + str(path)


def _one_line_error(capsys, argv, *needles) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("actsearch: error:") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _stored_config(**fields) -> dict:
    from actsearch.search import SearchConfig
    from actsearch.tasks import get_task

    cfg = SearchConfig(**fields)
    task = get_task(cfg.task)
    return cfg.stored(task_spec=task.spec, epochs=cfg.epochs or task.default_budget, metric=task.metric)


def _search_cli(args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "actsearch.cli", "search", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _kill_group(proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    proc.wait()


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@contextlib.contextmanager
def _tmpfs(path, size: str):
    """A tmpfs of ``size`` mounted at ``path`` (root only); skips the test elsewhere."""
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


SEARCH = dict(task="test_store_faults:steady", space="grammar", optimizer="random", epochs=1, references=(),
              backend="eager", early_stop=False, workers=1, seed=7)


# -- 1. one driver per search -----------------------------------------------------------------
def race_for_lease(url: str, name: str, n: int = 8) -> tuple[list, list[str]]:
    """``n`` threads, each with its own Store, take ``name``'s lease at once: (leases won, refusals)."""
    won, refused = [], []
    barrier = threading.Barrier(n)

    def race():
        store = Store(url)
        barrier.wait()
        try:
            won.append(store.lease(name))
        except StoreError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=race) for _ in range(n)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return won, refused


def test_lease_is_taken_by_exactly_one_of_many_racing(tmp_path):
    url = _url(tmp_path / "s.db")
    Store(url)
    won, refused = race_for_lease(url, "s")
    assert len(won) == 1 and len(refused) == 7
    assert all("is being run by another driver" in r and f"pid {os.getpid()}" in r for r in refused)
    won[0].release()
    Store(url).lease("s").release()  # free again once released


def test_a_lease_of_a_dead_local_driver_is_taken_over_at_once(tmp_path):
    url = _url(tmp_path / "s.db")
    store = Store(url)
    first = store.lease("s")
    first._stop.set()  # as if killed: no more heartbeats, no release
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with store.storage.engine.begin() as conn:  # hand the row to that finished process
        import sqlalchemy as sa

        conn.execute(sa.text("UPDATE actsearch_leases SET pid = :p WHERE search = 's'"), {"p": int(dead.stdout)})
    second = store.lease("s")
    assert second.took_over
    assert not first.renew() and first.lost  # the old holder learns it lost the search
    search = store.open_search("s", {"task": "t"})
    search.lease = first
    with pytest.raises(StoreError, match="taken over by another driver"):
        search.record(Result(key="k", text="relu(x)", score=0.5, fingerprint="f"))
    second.release()


@pytest.mark.ray
@pytest.mark.subprocess
def test_two_resumes_at_once_run_once(tmp_path):
    """Two `search --resume --name S` at once: one runs, the other is refused in one line;
    every candidate is trained once (before: both ran, budget 7 gave 13 trials)."""
    url = _url(tmp_path / "s.db")
    Store(url).open_search("twice", _stored_config(budget=1, **SEARCH))
    log = tmp_path / "calls.log"
    env = dict(os.environ, ACTSEARCH_STEADY_LOG=str(log))
    args = ["--resume", "--name", "twice", "--budget", "4", "--storage", url]
    procs = [_search_cli(args, env) for _ in range(2)]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        [_kill_group(p) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errs = [o[1].decode() for o in outs]
    assert codes == [0, 2], errs
    refused = next(e for p, e in zip(procs, errs) if p.returncode == 2).strip()
    assert len(refused.splitlines()) == 1, refused
    for needle in ("search 'twice' is being run by another driver", "pid ", "since ", "expires 30 s after"):
        assert needle in refused, refused
    results = Store(url).results("twice")
    assert len(results) == 4 and len({r.fingerprint for r in results}) == 4
    runs = log.read_text().split()
    assert len(runs) == len(set(runs)) == 4  # nothing trained twice
    assert Store(url).search("twice").state == "finished" and holder(Store(url).storage.engine, "twice") is None


@pytest.mark.ray
@pytest.mark.subprocess
def test_killed_driver_blocks_resume_until_its_lease_expires(tmp_path):
    url = _url(tmp_path / "s.db")
    Store(url).open_search("k", _stored_config(budget=1, **SEARCH))
    env = dict(os.environ, ACTSEARCH_LEASE_SECONDS="20")
    args = ["--resume", "--name", "k", "--budget", "6", "--storage", url]
    proc = _search_cli(args, env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            trials = optuna.load_study(study_name="k", storage=url).trials
            if any(t.state.name == "RUNNING" for t in trials):
                break
            time.sleep(0.3)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    finally:
        _kill_group(proc)
    store = Store(url)
    # as if it had run on another machine, where its pid cannot be checked: only expiry frees it;
    # and as if its last heartbeat were now, so that the next start-up falls inside the lease
    with store.storage.engine.begin() as conn:
        import sqlalchemy as sa

        conn.execute(sa.text("UPDATE actsearch_leases SET node = 'elsewhere/0', host = 'elsewhere', "
                             "beat = (julianday('now') - 2440587.5) * 86400.0 WHERE search = 'k'"))
    refused = _search_cli(args, env)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 2, err.decode()[-2000:]
    assert "host elsewhere" in err.decode() and "expires 20 s after its last heartbeat" in err.decode()
    lost = store.search("k").inflight
    assert lost  # the killed driver's running trial
    while holder(store.storage.engine, "k")["age"] <= 20:
        time.sleep(0.5)
    resumed = _search_cli(args, env)
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err.decode()[-2000:]
    after = Store(url).search("k")
    results = after.results()
    assert after.state == "finished" and after.inflight == [] and len(results) == 6
    assert len({r.fingerprint for r in results}) == 6
    assert {c["text"] for c in lost} <= {r.text for r in results}
    interrupted = [t for t in optuna.load_study(study_name="k", storage=url).trials if "interrupted" in t.user_attrs]
    assert interrupted and all(t.state.name == "FAIL" for t in interrupted)


# -- 2. half-created searches, and `actsearch delete` ---------------------------------------
_KILL_AT_SCHEMA = """
import os, signal, sys
from actsearch.store import Store
store = Store(sys.argv[1])
real = store.storage.set_study_user_attr
def set_attr(study_id, key, value):
    if key == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(study_id, key, value)
store.storage.set_study_user_attr = set_attr
lease = store.lease("half")
store.open_search("half", {"task": "t", "epochs": 1, "seeds": 1})
"""


@pytest.mark.subprocess
@pytest.mark.parametrize("killed_at", ["config", "schema"])
def test_search_killed_while_created_is_replaced(tmp_path, killed_at, capsys):
    url = _url(tmp_path / "s.db")
    done = subprocess.run([sys.executable, "-c", _KILL_AT_SCHEMA, url, killed_at], cwd=ROOT)
    assert done.returncode == -signal.SIGKILL
    store = Store(url)
    assert "half" not in [s["name"] for s in store.searches()]
    with pytest.raises(StoreError, match="not complete.*actsearch delete half"):
        store.open_search("half", {"task": "t"})  # without the lease: told, not replaced
    with store.lease("half") as lease:  # the killed creator's lease is taken over
        search = store.open_search("half", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
        search.record(Result(key="k", text="relu(x)", score=0.5, fingerprint="f"))
    assert [r.text for r in Store(url).results("half")] == ["relu(x)"]


def test_ctrl_c_while_creating_leaves_nothing(tmp_path, monkeypatch):
    store = Store(_url(tmp_path / "s.db"))
    real = store.storage.set_study_user_attr

    def interrupted(study_id, key, value):
        if key == "state":
            raise KeyboardInterrupt
        return real(study_id, key, value)

    monkeypatch.setattr(store.storage, "set_study_user_attr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.open_search("s", {"task": "t"})
    assert store.storage.get_all_studies() == []


def test_delete_a_search_its_confirmation_and_a_half_created_one(tmp_path, capsys):
    url = _url(tmp_path / "s.db")
    store = Store(url)
    store.open_search("s", {"task": "t"}).record(Result(key="k", text="relu(x)", score=0.5, fingerprint="f"))
    store.open_search("s-confirm", {"task": "t", "confirms": "s"})
    store.open_search("other", {"task": "t"})
    _one_line_error(capsys, ["delete", "s", "--storage", url], "needs --yes")  # no terminal to ask on
    assert main(["delete", "s", "--storage", url, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "deleted 's' (1 recorded candidates)" in out and "kept its confirmation 's-confirm'" in out
    assert [s["name"] for s in Store(url).searches()] == ["s-confirm", "other"]
    store.open_search("s", {"task": "t"})
    assert main(["delete", "s", "--storage", url, "--yes", "--confirmations"]) == 0
    assert [s["name"] for s in Store(url).searches()] == ["other"]
    # a creation that stopped after its config: removable too
    store.storage.set_study_user_attr(store.storage.create_new_study(
        [optuna.study.StudyDirection.MAXIMIZE], study_name="half"), "config", {"task": "t"})
    assert main(["delete", "half", "--storage", url, "--yes"]) == 0
    assert store._study_id("half") is None
    _one_line_error(capsys, ["delete", "ghost", "--storage", url, "--yes"], "no search named 'ghost'")
    optuna.create_study(study_name="theirs", storage=url)  # another tool's study is not ours to delete
    _one_line_error(capsys, ["delete", "theirs", "--storage", url, "--yes"], "not an actsearch search")


def test_delete_is_refused_while_a_driver_runs_the_search(tmp_path, capsys):
    url = _url(tmp_path / "s.db")
    store = Store(url)
    with store.lease("busy") as lease:
        store.open_search("busy", {"task": "t"}, lease=lease)
        _one_line_error(capsys, ["delete", "busy", "--storage", url, "--yes"], "is being run by another driver",
                        f"pid {os.getpid()}")
    assert "busy" in [s["name"] for s in Store(url).searches()]
    assert main(["delete", "busy", "--storage", url, "--yes"]) == 0  # its driver ended
    store.open_search("src", {"task": "t"})
    with store.lease("src-confirm") as lease:  # its confirmation is running: nothing is removed
        store.open_search("src-confirm", {"task": "t", "confirms": "src"}, lease=lease)
        _one_line_error(capsys, ["delete", "src", "--storage", url, "--yes", "--confirmations"],
                        "search 'src-confirm' is being run by another driver")
    assert [s["name"] for s in Store(url).searches()] == ["src", "src-confirm"]


# -- 3. foreign databases are refused untouched --------------------------------------------
def test_a_foreign_file_with_a_studies_table_is_left_untouched(tmp_path, capsys):
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE studies (id INTEGER PRIMARY KEY, title TEXT)")
        con.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY, arm TEXT)")
        con.execute("INSERT INTO studies VALUES (1, 'vaccine')")
    con.close()
    before = _digest(path)
    with pytest.raises(StoreError, match="not an actsearch results store.*lacks .*alembic_version"):
        Store(_url(path))
    _one_line_error(capsys, ["leaderboard", "--storage", _url(path)], "not an actsearch results store")
    _one_line_error(capsys, ["search", "--storage", _url(path), "--budget", "1"], "not an actsearch results store")
    assert _digest(path) == before
    assert sorted(os.listdir(tmp_path)) == ["theirs.db"]  # no journal or WAL file either


# -- 4. a damaged store, a full disk ----------------------------------------------------------
def _filled_store(url, name="s", n=30) -> None:
    store = Store(url)
    s = store.open_search(name, {"task": "t", "epochs": 1, "seeds": 1})
    for i in range(n):
        s.record(Result(key=f"k{i}", text=f"x + {i}", score=i / n, fingerprint=f"f{i}", message="m" * 500))
    store.storage.engine.dispose()


def test_a_damaged_store_is_one_line(tmp_path, capsys):
    """A damaged page under the trials' attributes: the store opens, reading it fails."""
    path = tmp_path / "s.db"
    _filled_store(_url(path))
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = con.execute("PRAGMA page_size").fetchone()[0]
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'trial_user_attributes'").fetchone()[0]
    con.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(os.urandom(page))
    store = Store(_url(path))  # Optuna's bookkeeping tables are intact
    with pytest.raises(StoreError) as info:
        store.results("s")
    msg = str(info.value)
    assert "\n" not in msg and "the database file is damaged" in msg and "malformed" in msg, msg
    assert ".recover" in msg
    _one_line_error(capsys, ["leaderboard", "--storage", _url(path)], "the database file is damaged")
    from actsearch.search import run_search

    with pytest.raises(StoreError, match="the database file is damaged"):
        run_search(name="s", storage=_url(path), resume=True)


def _disk_full(*args, **kwargs):
    import sqlalchemy

    raise sqlalchemy.exc.OperationalError("UPDATE trials", {}, sqlite3.OperationalError("database or disk is full"))


def test_full_disk_while_recording_is_one_line_and_loses_nothing(tmp_path, monkeypatch):
    """Disk full simulated by the engine raising SQLite's own error (any machine);
    the real thing, on a tiny tmpfs, is the test below."""
    from actsearch.search.driver import Driver, QueueOnly, TrialDefaults

    url = _url(tmp_path / "s.db")
    store = Store(url)
    lease = store.lease("s")
    search = store.open_search("s", {"task": "t", "epochs": 1, "seeds": 1}, lease=lease)
    cands = [actsearch.parse(t) for t in ("x*tanh(x)", "abs(x)", "x*sigmoid(x)")]
    defaults = TrialDefaults(task="t", task_options={}, task_spec="t", metric="score", epochs=1, seeds=(0,),
                             backend="eager", device="cpu", precision="fp32", early_stop=False, trial_timeout=None)
    driver = Driver(search, QueueOnly(), cands, defaults, budget=3, known={})
    ids = ["a", "b", "c"]
    for i in ids:
        driver.suggest(i)
    driver.complete("a", Result(key="", text="", score=0.5))
    import optuna.storages

    monkeypatch.setattr(optuna.storages.RDBStorage, "set_trial_state_values", _disk_full)
    t0 = time.perf_counter()
    with pytest.raises(StoreError) as info:
        driver.complete("b", Result(key="", text="", score=0.6))
    msg = str(info.value)
    assert "\n" not in msg and "disk holding the store is full" in msg and "database or disk is full" in msg
    assert "--resume continues" in msg and time.perf_counter() - t0 < 5  # not retried: it will not pass by itself
    search.set_state("interrupted")  # best effort after the failure: no second error
    lease.release()
    monkeypatch.undo()
    after = Store(url).search("s")
    assert [r.text for r in after.results()] == [cands[0].text]
    assert after.state == "interrupted"
    assert {c["text"] for c in after.inflight} == {cands[1].text, cands[2].text}  # trained first on --resume


def test_full_disk_mid_search_on_a_real_tmpfs(ray_session, tmp_path):
    """A real full disk: a 16 MiB tmpfs (room for the WAL file, which grows to 4 MiB between
    checkpoints) filled by a watcher after the first record."""
    from actsearch.search import run_search
    from actsearch.search.events import SearchEvents

    with _tmpfs(tmp_path / "disk", "16m") as disk:
        url = _url(disk / "s.db")
        filler = disk / "filler"

        class Fill(SearchEvents):
            def trial_recorded(self, snapshot, result, note=""):
                if not filler.exists():
                    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
                        while True:
                            f.write(b"\0" * 4096)

        config = {**SEARCH, "budget": 5, "workers": 2}
        with pytest.raises(StoreError) as info:
            run_search(**config, storage=url, name="full", results_dir=str(tmp_path / "ray"), progress=Fill())
        msg = str(info.value)
        assert "\n" not in msg and "disk holding the store is full" in msg, msg
        filler.unlink()
        recorded = Store(url).results("full")
        assert len(recorded) >= 1
        outcome = run_search(storage=url, name="full", resume=True, results_dir=str(tmp_path / "ray"))
        results = Store(url).results("full")
        assert outcome.finished and len(results) == 5 and len({r.fingerprint for r in results}) == 5
        assert [r.text for r in results[:len(recorded)]] == [r.text for r in recorded]


# -- 5. a WAL store in a read-only folder is readable ----------------------------------------
def test_a_store_in_a_read_only_folder_is_read(tmp_path, capsys):
    folder = tmp_path / "ro"
    with contextlib.ExitStack() as stack:
        if os.geteuid() == 0:  # root writes through permissions: use a read-only mount
            stack.enter_context(_tmpfs(folder, "4m"))
        else:
            folder.mkdir()
        url = _url(folder / "s.db")
        store = Store(url)
        search = store.open_search("s", {"task": "digits", "epochs": 1, "seeds": 1})
        search.record(Result(key="k", text="x*tanh(x)", score=0.9, fingerprint="f", task="digits"))
        store.storage.engine.dispose()
        assert not (folder / "s.db-wal").exists()  # a clean close: WAL mode, no shared-memory file left
        before = _digest(folder / "s.db")
        if os.geteuid() == 0:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            os.chmod(folder, 0o555)
            stack.callback(os.chmod, folder, 0o755)
        assert main(["leaderboard", "--storage", url]) == 0, capsys.readouterr().err
        assert "x*tanh(x)" in capsys.readouterr().out
        out = tmp_path / "act.py"
        assert main(["export", "s:0", "--storage", url, "--out", str(out)]) == 0, capsys.readouterr().err
        assert out.exists()
        assert _digest(folder / "s.db") == before and sorted(os.listdir(folder)) == ["s.db"]


def test_readers_never_create_a_database(tmp_path, capsys):
    _one_line_error(capsys, ["leaderboard", "--storage", _url(tmp_path / "none.db")], "no results store")
    assert os.listdir(tmp_path) == []
    with pytest.raises(StoreError, match="no results store"):
        Store(_url(tmp_path / "none.db"), readonly=True)
    assert os.listdir(tmp_path) == []


# -- 6. passwords never reach a message -------------------------------------------------------
SECRET_URL = "postgresql://ana:s3cr%40t-pw@127.0.0.1:1/results"


def test_passwords_are_masked_in_errors(capsys, monkeypatch):
    with pytest.raises(StoreError) as info:
        Store(SECRET_URL)
    assert "s3cr" not in str(info.value) and "ana:***@127.0.0.1:1" in str(info.value)
    for argv in (["leaderboard", "--storage", SECRET_URL], ["search", "--storage", SECRET_URL, "--budget", "1"],
                 ["delete", "x", "--storage", SECRET_URL, "--yes"]):
        err = _one_line_error(capsys, argv, "ana:***@")
        assert "s3cr" not in err
    # a missing driver names the extra to install, still masked
    import actsearch.store.url as urls

    monkeypatch.setattr(urls, "_installed", lambda module: False)
    with pytest.raises(StoreError, match=r"no PostgreSQL driver is installed; pip install 'actsearch\[postgres\]'"
                       ) as info:
        Store(SECRET_URL)
    assert "s3cr" not in str(info.value)


def test_a_forgotten_lease_collected_inside_a_write_transaction_is_still_given_back(tmp_path):
    # the garbage collector may run a lost lease's finaliser anywhere, here while this
    # thread holds SQLite's write lock: giving back inline would wait on itself
    import gc

    import sqlalchemy as sa

    store = Store(_url(tmp_path / "s.db"))
    engine = store.storage.engine
    forgotten = store.lease("a")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE actsearch_leases SET since = since WHERE search = 'a'"))  # take the write lock
        del forgotten
        gc.collect()
    deadline = time.monotonic() + 10
    while holder(engine, "a") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder(engine, "a") is None
    store.lease("a").release()


@pytest.mark.subprocess
def test_release_waits_out_a_busy_store_so_the_row_is_gone_when_it_returns(tmp_path):
    # another process holds SQLite's write lock for longer than a collected lease waits
    path = tmp_path / "s.db"
    store = Store(_url(path))
    lease = store.lease("s")
    locker = subprocess.Popen([sys.executable, "-c", "import sqlite3, sys, time\n"
                               f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                               "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
                               "time.sleep(4); c.execute('ROLLBACK')\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        lease.release()
        assert holder(store.storage.engine, "s") is None
    finally:
        locker.wait(timeout=30)
    store.lease("s").release()


def test_a_lease_left_when_no_thread_can_start_is_given_back_inline(tmp_path, monkeypatch):
    # at interpreter exit (Python 3.12) no thread can start: the finaliser deletes inline
    import gc

    from actsearch.store import lease as lease_module

    class NoThreads(threading.Thread):
        def start(self):
            raise RuntimeError("can't create new thread at interpreter shutdown")

    store = Store(_url(tmp_path / "s.db"))
    forgotten = store.lease("s")
    forgotten._stop.set()  # its own heartbeat thread is not the point here
    monkeypatch.setattr(lease_module.threading, "Thread", NoThreads)
    del forgotten
    gc.collect()
    monkeypatch.undo()
    assert holder(store.storage.engine, "s") is None
