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
    def __init__(self, root):
        self.ray_tmp = tempfile.mkdtemp(prefix="ar", dir="/tmp")  # short: Ray's unix sockets live under it
        self.cwd = root / "head"
        self.cwd.mkdir()
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = "actsearch-test-" + uuid.uuid4().hex
        self.log = root / "head.log"
        env = self.env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token)
        ports = [f"--{opt}={_free_port()}" for opt in ("dashboard-port", "dashboard-agent-listen-port")]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([RAY, "start", "--head", f"--port={self.port}", "--num-cpus=2",
                                          "--include-dashboard=false", "--disable-usage-stats", "--block", *ports],
                                         cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.time() + 90
        while "Ray runtime started" not in self.log.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                pytest.fail("ray start --head did not start: " + self.log.read_text()[-2000:])
            time.sleep(0.3)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the head and every process it started
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def env(self, **extra):
        """This process's environment without Ray's settings and this project's PYTHONPATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTHONPATH"))}
        env.update(RAY_TMPDIR=self.ray_tmp, **extra)
        return env


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
    code = ("from actsearch.search.ray_backend import ray_cluster\n"
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
    assert "RAY_AUTH_TOKEN" in errors[0]
    assert "gcs_client" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert took < 30


# -- what a search ships (no cluster needed) -----------------------------------------------
def _sparse(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def test_what_is_shipped_and_what_is_left_behind(tmp_path, monkeypatch):
    from actsearch.search import shipping

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
    from actsearch.search.shipping import trial_task_options

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
