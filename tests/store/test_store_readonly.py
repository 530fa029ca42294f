"""A finished store in a folder the user cannot write is read by every command that
only reads (SQLite 3.22 and later answer ``mode=ro`` there with
SQLITE_READONLY_DIRECTORY: the reader falls back to ``immutable=1``), and a command
that must write says so in one line.  Run as another user: root writes through
permissions, so under root the reader is uid 65534 (``setpriv``), keeping only the
right to read files (CAP_DAC_READ_SEARCH, so it can run this interpreter)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

import actsearch
from actsearch.result import Result
from actsearch.search import SearchConfig
from actsearch.store import Store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# runs every reading command (and confirm) in the reader's process, one JSON line of outcomes
_READER = r"""
import contextlib, io, json, sys
from actsearch.cli import main
url, out = sys.argv[1], sys.argv[2]
commands = {
    "leaderboard": ["leaderboard"],
    "show": ["show", "ro:3", "--out", out + "/show.png"],
    "export": ["export", "ro:3", "--out", out + "/act.py"],
    "report": ["report", "--name", "ro", "--out", out + "/report"],
    "config": ["config", "ro"],
    "confirm": ["confirm", "ro", "--top", "1", "--seeds", "2"],
}
done = {}
for name, argv in commands.items():
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv + ["--storage", url])
        except SystemExit as exc:
            code = exc.code
    done[name] = {"code": code, "out": stdout.getvalue(), "err": stderr.getvalue()}
print(json.dumps(done))
"""


def _as_other_user() -> list[str] | None:
    """The command prefix that runs a process as a user who cannot write the folder."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=+dac_read_search",
              "--ambient-caps=+dac_read_search"]
    probe = subprocess.run(prefix + [sys.executable, "-c", "import os; open(os.devnull)"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def _finished_store(url: str) -> None:
    config = SearchConfig(task="digits", seeds=1).stored(task_spec="digits", epochs=1, metric="val_accuracy")
    store = Store(url)
    search = store.open_search("ro", config)
    for i, text in enumerate(["relu(x)", "gelu(x)", "silu(x)", "x*tanh(x)"]):
        cand = actsearch.parse(text)
        search.record(Result(key=cand.key, text=cand.text, score=0.90 + i / 100, fingerprint=cand.fingerprint(),
                             task="digits", epochs=1, seeds=1, first_seed=0, curves=[[0.8, 0.90 + i / 100]]))
    search.set_state("finished")
    store.storage.engine.dispose()


@pytest.mark.subprocess
def test_a_finished_store_in_a_folder_the_user_cannot_write_is_read(tmp_path):
    prefix = _as_other_user()
    if prefix is None:
        pytest.skip("no way to run a process as another user here (setpriv)")
    folder, out = tmp_path / "store", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    out.chmod(0o777)  # the reader writes its files here
    tmp_path.chmod(0o755)
    path = folder / "s.db"
    _finished_store(f"sqlite:///{path}")
    assert sorted(os.listdir(folder)) == ["s.db"]  # a clean close: no -wal, no -shm
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    folder.chmod(0o555)
    try:
        env = dict(os.environ, HOME=str(out), MPLCONFIGDIR=str(out / "mpl"))
        done = subprocess.run(prefix + [sys.executable, "-c", _READER, f"sqlite:///{path}", str(out)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("leaderboard", "show", "export", "report", "config"):
        assert runs[name]["code"] == 0, (name, runs[name]["err"])
        assert "readonly" not in runs[name]["err"], (name, runs[name]["err"])
    assert "x*tanh(x)" in runs["leaderboard"]["out"] and "silu" in runs["leaderboard"]["out"]
    assert (out / "show.png").stat().st_size > 0 and "class " in (out / "act.py").read_text()
    assert "x*tanh(x)" in (out / "report" / "index.html").read_text()
    assert "digits" in runs["config"]["out"]
    # confirm reads its winners, then must write a new search: refused in one line that says why
    refused = runs["confirm"]
    errors = [line for line in refused["err"].strip().splitlines() if " warning: " not in line]  # few seeds
    assert refused["code"] == 2 and len(errors) == 1, refused
    assert "cannot be written here" in refused["err"] and "Traceback" not in refused["err"]
    assert sorted(os.listdir(folder)) == ["s.db"] and hashlib.sha256(path.read_bytes()).hexdigest() == before
