"""A real Ray cluster on this machine (`ray start --head`), as users run one.

The head keeps its files in a private temporary folder (``RAY_TMPDIR``), so no other
Ray session on the machine sees it, asks for a token (Ray token authentication) and
runs from an empty folder without this project's ``PYTHONPATH``: its workers see a
user's files only when the search ships them.  Searches run as ``actsearch search``
in subprocesses (this process may hold the tests' own Ray session).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from actsearch.store import Store

pytestmark = [pytest.mark.cluster, pytest.mark.subprocess]  # real `ray start` clusters and searches in processes

RAY = os.path.join(os.path.dirname(sys.executable), "ray")

_TASK = '''
import os

def train(act_factory, budget, seed, report):
    import torch
    with open({side!r}, "a") as f:
        f.write(__file__ + "\\n")
    x = torch.linspace(-2, 2, 64)[:, None]
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), act_factory(), torch.nn.Linear(8, 1))
    loss = torch.nn.functional.mse_loss(model(x), torch.sin(3 * x))
    return {{"score": -float(loss), "curve": [-float(loss)] * budget}}
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Head:
    def __init__(self, root, cpus: int = 2, **env):
        self.ray_tmp = tempfile.mkdtemp(prefix="ar", dir="/tmp")  # short: Ray's unix sockets live under it
        self.cwd = root / "head"
        self.cwd.mkdir()
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = "actsearch-test-" + uuid.uuid4().hex
        self.log = root / "head.log"
        env = self.env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **env)
        ports = [f"--{opt}={_free_port()}" for opt in ("dashboard-port", "dashboard-agent-listen-port")]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([RAY, "start", "--head", f"--port={self.port}", f"--num-cpus={cpus}",
                                          "--include-dashboard=false", "--disable-usage-stats", "--block", *ports],
                                         cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _wait_started(self, "ray start --head")

    def stop(self):
        _kill(self.proc)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def env(self, **extra):
        """This process's environment without Ray's settings and this project's PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTHONPATH"))}
        env.update(RAY_TMPDIR=self.ray_tmp, **extra)
        return env


class WorkerNode:
    """``ray start --address HEAD``: one more node of the head's cluster on this machine."""

    def __init__(self, head: Head, root, name: str, cpus: int = 1):
        self.log = root / f"{name}.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([RAY, "start", f"--address={head.address}", f"--num-cpus={cpus}",
                                          "--disable-usage-stats", "--block"],
                                         cwd=head.cwd, env=head.env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=head.token), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _wait_started(self, f"ray start (node {name})")

    def kill(self):
        """The node dies at once: its raylet and the workers it runs (as a machine lost)."""
        _kill(self.proc)


def _wait_started(node, what: str) -> None:
    deadline = time.time() + 90
    while "Ray runtime started" not in node.log.read_text():
        if node.proc.poll() is not None or time.time() > deadline:
            _kill(node.proc)
            pytest.fail(f"{what} did not start: " + node.log.read_text()[-2000:])
        time.sleep(0.3)


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the process and every process it started
    except ProcessLookupError:
        pass
    proc.wait()


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    h = Head(tmp_path_factory.mktemp("cluster"))
    yield h
    h.stop()


def _search(args, cwd, env, timeout=240):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "actsearch.cli", "search", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.perf_counter() - t0


def test_a_local_search_beside_a_running_cluster(head):
    """`ray start` on the machine: a plain search starts its own instance (with its own
    CPUs) instead of failing with 'num_cpus ... must not be provided'."""
    code = ("from actsearch.search.ray.cluster import ray_cluster\n"
            "with ray_cluster(None, num_cpus=1) as resources:\n"
            "    print('CPUS', resources['CPU'])\n")
    proc = subprocess.run([sys.executable, "-c", code], env=head.env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CPUS 1.0" in proc.stdout  # its own instance, not the head's 2 CPUs


def test_user_task_module_is_shipped_to_the_workers(head, tmp_path):
    """--address host:port with --task module:function: the current folder is shipped,
    the workers import the user's module from the copy (they start in another folder),
    and Ray's noise stays out of the terminal."""
    side = tmp_path / "imported-from.txt"
    user = tmp_path / "project"
    user.mkdir()
    (user / "mytask.py").write_text(_TASK.format(side=str(side)))
    (user / "results").mkdir()
    (user / "results" / "big.db").write_bytes(b"0" * 1000)  # never shipped
    url = "sqlite:///" + str(user / "results" / "s.db")
    # the token of a cluster on this machine is found as for ray.init(): here, in the environment
    proc, took = _search(["--task", "mytask:train", "--address", head.address, "--budget", "1", "--epochs", "1",
                          "--no-early-stop", "--backend", "eager", "--storage", url, "--name", "shipped"],
                         cwd=user, env=head.env(RAY_AUTH_TOKEN=head.token))
    assert proc.returncode == 0, proc.stderr[-3000:]
    [result] = Store(url).results("shipped")
    assert result.status == "ok", result.message
    imported = side.read_text().split()
    assert imported and all(not p.startswith(str(user)) for p in imported), imported  # the shipped copy
    assert "Traceback" not in proc.stderr and "gcs_client" not in proc.stderr, proc.stderr[-3000:]
    print(f"\nsearch on the cluster: {took:.1f} s")


def test_a_wrong_token_is_one_line(head, tmp_path):
    proc, took = _search(["--address", head.address, "--storage", "sqlite:///" + str(tmp_path / "s.db")],
                         cwd=tmp_path, env=head.env(RAY_AUTH_TOKEN="not-the-token"))
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("actsearch: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "refused this connection: its authentication token is missing or wrong" in errors[0]
    assert "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN" in errors[0]  # what Ray needs set, both of them
    assert "gcs_client" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert took < 30


def test_a_token_in_the_environment_reaches_a_cluster_on_another_machine(head, tmp_path):
    """RAY_AUTH_TOKEN alone (no RAY_AUTH_MODE), the head taken for another machine's: Ray
    sends no token until the mode is set, so actsearch sets it for the token the user gave."""
    code = ("import actsearch.search.ray.cluster as c\n"
            "c._local_host = lambda host: False  # as if the head were another machine\n"
            f"with c.ray_cluster({head.address!r}) as resources:\n"
            "    print('CPUS', resources['CPU'])\n")
    for env in (head.env(RAY_AUTH_TOKEN=head.token), head.env(RAY_AUTH_TOKEN_PATH=_token_file(tmp_path, head))):
        proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and "CPUS 2.0" in proc.stdout, proc.stderr[-3000:]
    # the token kept on this machine is not offered to another machine's cluster
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(head.token)
    proc = subprocess.run([sys.executable, "-c", code], env=head.env(HOME=str(home)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "RAY_AUTH_MODE=token" in proc.stderr, proc.stderr[-3000:]


def _token_file(folder, head) -> str:
    path = folder / "token"
    path.write_text(head.token)
    return str(path)


# -- what a search ships (no cluster needed) -----------------------------------------------
def _sparse(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def test_what_is_shipped_and_what_is_left_behind(tmp_path, monkeypatch):
    from actsearch.search.ray import shipping

    (tmp_path / "mytask.py").write_text("def train(*a): pass\n")
    (tmp_path / ".gitignore").write_text("data/\n")
    _sparse(tmp_path / "big.bin", shipping.LARGE_FILE + 1)                # left behind, named
    _sparse(tmp_path / "data" / "huge.bin", 2 * shipping.LARGE_FILE)      # .gitignore'd: Ray leaves it anyway
    _sparse(tmp_path / ".venv" / "lib" / "torch.so", 3 * shipping.LARGE_FILE)
    _sparse(tmp_path / "results" / "actsearch.db", 3 * shipping.LARGE_FILE)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)

    local = shipping.runtime_env(task="mytask:train", address=None)
    assert "working_dir" not in local.env and local.working_dir is None  # a local instance needs nothing
    assert shipping.runtime_env(task="digits", address="10.0.0.1:6379").working_dir is None  # a built-in task
    shipped = shipping.runtime_env(task="mytask:train", address="10.0.0.1:6379", py_modules=["pkg"])
    assert shipped.env["working_dir"] == str(tmp_path) == shipped.working_dir
    assert {".git", ".venv", "results", "/big.bin"} <= set(shipped.env["excludes"])
    assert shipped.env["py_modules"] == [str(tmp_path / "pkg")]
    assert shipped.env["env_vars"] == {"RAY_CHDIR_TO_TRIAL_DIR": "0"}
    [note] = shipped.notes
    assert "big.bin (50 MiB)" in note and "huge.bin" not in note and "torch.so" not in note

    monkeypatch.setattr(shipping, "_ray_limit", lambda: 10)
    with pytest.raises(shipping.ActsearchError, match="Ray ships at most"):
        shipping.runtime_env(task="mytask:train", address="10.0.0.1:6379")
    monkeypatch.setattr(shipping, "MAX_FILES", 1)
    with pytest.raises(shipping.ActsearchError, match="more than 1 files"):
        shipping.runtime_env(task="mytask:train", address="10.0.0.1:6379")


def test_path_options_reach_the_workers_as_paths_they_can_open(tmp_path):
    from actsearch.search.ray.shipping import trial_task_options

    inside, outside = str(tmp_path / "data" / "corpus.txt"), "/srv/shared/corpus.txt"
    assert trial_task_options({"path": inside, "lr": "0.1"}, ("path",), str(tmp_path)) == \
        {"path": os.path.join("data", "corpus.txt"), "lr": "0.1"}  # inside the shipped folder: relative
    assert trial_task_options({"path": outside}, ("path",), str(tmp_path)) == {"path": outside}
    assert trial_task_options({"lr": "0.1"}, ("path",), None) == {"lr": "0.1"}


def test_workers_without_actsearch_stop_the_search_in_one_line(head, tmp_path):
    """A node whose Python cannot import actsearch (here: a broken copy shipped over the
    installed one) cannot run any trial: one line, nothing recorded, --resume later."""
    user = tmp_path / "project"
    (user / "actsearch").mkdir(parents=True)
    (user / "actsearch" / "__init__.py").write_text("raise ImportError('actsearch is not installed here')\n")
    url = "sqlite:///" + str(tmp_path / "s.db")
    proc, took = _search(["--address", head.address, "--task", "digits", "--budget", "2", "--epochs", "1",
                          "--backend", "eager", "--py-module", str(user / "actsearch"), "--max-failures", "1",
                          "--storage", url, "--name", "broken"], cwd=tmp_path, env=head.env(RAY_AUTH_TOKEN=head.token))
    assert proc.returncode == 2, proc.stderr[-3000:]
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("actsearch: error:")]
    assert "cannot load actsearch's trial code: ImportError: actsearch is not installed here" in error
    assert "install actsearch" in error and "--resume" in error
    assert "Traceback" not in proc.stderr
    search = Store(url).search("broken")
    assert search.results() == [] and search.state == "interrupted" and len(search.inflight) == 2


_SLOW_ONCE_TASK = '''
import os, time

def train(act_factory, budget, seed, report):
    import torch
    first = not os.path.exists({marker!r})
    with open({marker!r}, "a") as f:
        f.write(str(os.getpid()) + "\\n")
    if first:
        time.sleep(300)  # its node is killed meanwhile
    x = torch.linspace(-2, 2, 64)[:, None]
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), act_factory(), torch.nn.Linear(8, 1))
    loss = torch.nn.functional.mse_loss(model(x), torch.sin(3 * x))
    return {{"score": -float(loss), "curve": [-float(loss)] * budget}}
'''


def test_a_lost_node_is_one_warning_and_its_trial_is_retried_elsewhere(tmp_path):
    """The node running a trial dies (its raylet and workers killed): the user sees one
    warning line instead of raylet state dumps and actor tracebacks, Tune retries the
    trial on another node, and the search finishes with every candidate recorded."""
    # a head without CPUs, so trials run only on the worker nodes; a dead node is
    # noticed within about a second instead of Ray's default 15 s
    cluster = Head(tmp_path, cpus=0, RAY_health_check_period_ms="500", RAY_health_check_failure_threshold="2",
                   RAY_health_check_timeout_ms="500")
    nodes = []
    try:
        nodes.append(WorkerNode(cluster, tmp_path, "a"))
        user = tmp_path / "project"
        user.mkdir()
        marker = tmp_path / "started.txt"
        (user / "slowtask.py").write_text(_SLOW_ONCE_TASK.format(marker=str(marker)))
        url = "sqlite:///" + str(tmp_path / "s.db")
        args = ["--task", "slowtask:train", "--address", cluster.address, "--budget", "1", "--epochs", "1",
                "--no-early-stop", "--backend", "eager", "--storage", url, "--name", "lost"]
        search = subprocess.Popen([sys.executable, "-m", "actsearch.cli", "search", *args], cwd=user,
                                  env=cluster.env(RAY_AUTH_TOKEN=cluster.token), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 180
        while not marker.exists() and search.poll() is None and time.time() < deadline:
            time.sleep(0.3)
        assert marker.exists(), "the trial never started: " + (search.communicate()[1] if search.poll() else "")
        nodes.append(WorkerNode(cluster, tmp_path, "b"))  # where the retry can run
        nodes[0].kill()
        out, err = search.communicate(timeout=240)
    finally:
        for node in nodes:
            _kill(node.proc)
        cluster.stop()
    assert search.returncode == 0, err[-3000:]
    lost = [line for line in err.splitlines() if "was lost (its node died or it was killed)" in line]
    assert len(lost) == 1, err[-3000:]
    assert "Tune retries the trial" in lost[0] and "ray.log" in lost[0]
    for noise in ("Traceback", "raylet", "ActorDiedError", "RayActorError", "(raylet)"):
        assert noise not in err and noise not in out, (noise, err[-3000:])
    [result] = Store(url).results("lost")
    assert result.status == "ok", result.message
    assert len(marker.read_text().split()) == 2  # the first try and its retry
