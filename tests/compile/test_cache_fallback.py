"""The private temporary kernel cache used instead of a folder others could write:
one line of warning, and no ``actsearch-kernels-*`` folder left behind (at exit, or,
for a process that was killed, by the next one that needs such a folder)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from actsearch.compile import _cache

_OPEN = """
import os, sys, tempfile
from actsearch.compile._cache import open_cache
folder = tempfile.mkdtemp()
os.chmod(folder, 0o777)  # others could plant kernels here
print(open_cache(folder).directory, flush=True)
"""


@pytest.mark.subprocess
def test_the_notice_is_one_line_and_the_folder_goes_at_exit(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _OPEN], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "UserWarning: not using the kernel cache" in lines[0], done.stderr
    assert "writable by other users" in lines[0] and "private temporary cache" in lines[0]
    used = Path(done.stdout.strip())
    assert used.parent == tmp_path and used.name.startswith("actsearch-kernels-")
    assert not used.exists()  # removed at exit


def test_folders_of_ended_processes_are_removed_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"actsearch-kernels-{int(ended.stdout)}-abc"
    live = tmp_path / f"actsearch-kernels-{os.getpid()}-def"
    other = tmp_path / "actsearch-kernels-notapid"
    for folder in (dead, live, other):
        folder.mkdir()
        (folder / "kernel.py").write_text("X = 1\n")
    made = _cache._private_temporary()
    assert not dead.exists() and live.exists() and other.exists() and made.exists()
    assert made.name.startswith(f"actsearch-kernels-{os.getpid()}-") and made.stat().st_mode & 0o777 == 0o700
