"""A real PostgreSQL store: a small search into it, its leaderboard read back, the
lease under concurrency, and the server lost for 10 s mid-search (and for good).

A throwaway server is started on loopback from the installed binaries (Debian's
``/usr/lib/postgresql/*/bin``, or ``initdb`` on PATH), as an unprivileged user
when the tests run as root; the module is skipped when no server is installed.
The search task below runs in Ray workers, which import this module as
``test_postgres``.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(
    dict.fromkeys([TESTS_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))

import optuna  # noqa: E402

import actsearch  # noqa: E402
from actsearch.errors import StoreError  # noqa: E402
from actsearch.store import Store  # noqa: E402

pytestmark = pytest.mark.postgres  # a PostgreSQL server of its own (skipped without one)

PASSWORD = "pg-s3cret-pw"


@actsearch.task  # a resume reads it from the store
def slow(act_factory, budget, seed, report):
    """~1.5 s per run, so that the server can go away while a search runs."""
    import torch

    act = act_factory()
    with torch.no_grad():
        y = act(torch.linspace(-3, 3, 13))
    time.sleep(1.5)
    score = 1.0 / (1.0 + float(y.abs().mean()))
    for epoch in range(1, budget + 1):
        report(epoch, {"score": score})
    return {"score": score, "curve": [score] * budget}


def _bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A PostgreSQL server in ``folder``; root runs it as an unprivileged user."""

    def __init__(self, bin_dir: str, folder: str):
        self.bin, self.folder, self.port = bin_dir, folder, _free_port()
        self.data = os.path.join(folder, "data")
        self.user = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            self.user = next(u for u in ("postgres", "nobody") if _user_exists(u))
            shutil.chown(folder, user=self.user)
        self.url = f"postgresql://actsearch:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [os.path.join(self.bin, args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, cwd=self.folder, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        pwfile = os.path.join(self.folder, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if self.user is not None:
            shutil.chown(pwfile, user=self.user)
        done = self.run("initdb", "-D", self.data, "-U", "actsearch", "--pwfile", pwfile, "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            pytest.skip(f"initdb failed: {(done.stderr or done.stdout).strip()[-300:]}")

    def start(self) -> None:
        done = self.run("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "log"), "-w", "-o",
                        f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off", "start")
        if done.returncode != 0:
            log = open(os.path.join(self.folder, "log")).read()[-500:]
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {log}")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """The server process, by the pid in its pid file, when pg_ctl could not stop it."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
            with open(f"/proc/{pid}/cmdline", "rb") as f:  # still ours, not a reused pid
                if self.data.encode() in f.read():
                    os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def pg():
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="pip install 'actsearch[postgres]'")
    folder = tempfile.mkdtemp(prefix="actsearch-pg-")
    server = Server(bin_dir, folder)
    try:
        t0 = time.perf_counter()
        server.init()
        server.start()
        print(f"\nPostgreSQL server up in {time.perf_counter() - t0:.1f} s on port {server.port}")
        yield server
    finally:
        server.stop("immediate")
        server.kill()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_search_into_postgres_reads_back(pg, ray_session, capsys, tmp_path):
    from actsearch.cli import main
    from actsearch.search import run_search

    t0 = time.perf_counter()
    outcome = run_search(task="digits", space="rational", budget=3, epochs=1, workers=2, storage=pg.url,
                         name="pg-digits", references=("relu",), results_dir=str(tmp_path / "ray"))
    took = time.perf_counter() - t0
    assert outcome.finished and len(outcome.results) == 3
    assert main(["leaderboard", "--storage", pg.url, "--name", "pg-digits"]) == 0
    out, err = capsys.readouterr()
    assert "relu(x)" in out and PASSWORD not in out + err
    store = Store(pg.url)
    assert store.search("pg-digits").state == "finished"
    assert [r.status for r in store.results("pg-digits")].count("ok") >= 1
    study = optuna.load_study(study_name="pg-digits", storage=pg.url)  # what optuna-dashboard reads
    assert study.metric_names == ["val_accuracy"]
    assert all("family" in t.params and t.datetime_start < t.datetime_complete for t in study.trials)
    print(f"\nsearch into PostgreSQL (budget 3, digits, 1 epoch): {took:.1f} s")


def test_the_lease_is_atomic_on_postgres(pg):
    from test_store_faults import race_for_lease

    Store(pg.url)
    won, refused = race_for_lease(pg.url, "raced")
    assert len(won) == 1 and len(refused) == 7 and all("being run by another driver" in r for r in refused)
    won[0].release()


def _search_in_thread(pg, tmp_path, name: str, budget: int, seed: int):
    """Search ``name`` running in a thread, once it has recorded a candidate (each
    test its own ``seed``: nothing is copied from another test's search)."""
    from actsearch.search import run_search

    box: dict = {}

    def go():
        try:
            box["outcome"] = run_search(task="test_postgres:slow", space="grammar", budget=budget, epochs=1,
                                        workers=1, references=(), early_stop=False, backend="eager", seed=seed,
                                        storage=pg.url, name=name, results_dir=str(tmp_path / "ray"))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.time() + 120
    while time.time() < deadline and thread.is_alive():
        try:
            if len(Store(pg.url).results(name)) >= 1:
                break
        except StoreError:
            pass
        time.sleep(0.3)
    assert thread.is_alive(), box
    return thread, box


def test_server_lost_for_10_s_mid_search(pg, ray_session, tmp_path, monkeypatch):
    """The server stops while a search runs and is back 10 s later: the driver's writes
    wait for it (tried for up to 30 s) and the search finishes with every candidate once."""
    import actsearch.store.errors as errors

    seen = []
    real = errors.cause
    monkeypatch.setattr(errors, "cause", lambda exc, url=None: seen.append(real(exc, url)) or seen[-1])
    thread, box = _search_in_thread(pg, tmp_path, "outage", budget=8, seed=0)
    t0 = time.perf_counter()
    pg.stop("fast")
    time.sleep(10)
    pg.start()
    thread.join(timeout=300)
    assert "error" not in box, box.get("error")
    outcome = box["outcome"]
    results = Store(pg.url).results("outage")
    assert outcome.finished and len(results) == 8 and len({r.fingerprint for r in results}) == 8
    assert Store(pg.url).search("outage").state == "finished"
    assert any(kind == "lost" for kind, _ in seen)  # a write did meet the outage, and was tried again
    print(f"\nserver away 10 s; the search finished {time.perf_counter() - t0:.1f} s after it went")


def test_server_lost_for_good_is_one_line(pg, ray_session, tmp_path, monkeypatch):
    import actsearch.store.errors as errors

    monkeypatch.setattr(errors, "RETRY_SECONDS", 3.0)
    thread, box = _search_in_thread(pg, tmp_path, "gone", budget=8, seed=1)
    pg.stop("fast")
    try:
        thread.join(timeout=300)
    finally:
        pg.start()
    exc = box.get("error")
    assert isinstance(exc, StoreError), exc
    msg = str(exc)
    assert "\n" not in msg and "database server cannot be reached" in msg and "tried for" in msg, msg
    assert PASSWORD not in msg and "actsearch:***@" in msg
    recorded = Store(pg.url).results("gone")
    assert 1 <= len(recorded) < 8  # what was recorded before is kept
    from actsearch.search import run_search

    outcome = run_search(name="gone", storage=pg.url, resume=True, results_dir=str(tmp_path / "ray"))
    results = Store(pg.url).results("gone")
    assert outcome.finished and len(results) == 8 and len({r.fingerprint for r in results}) == 8
