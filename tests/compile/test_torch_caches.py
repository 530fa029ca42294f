"""PyTorch's and Triton's own caches live in private folders under the kernel cache:
a planted folder (another user's, or one others can write) is refused, never read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

import actsearch
from actsearch.compile import _torch_caches

VARIABLES = tuple(_torch_caches.CACHE_VARIABLES)
NOBODY = 65534


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    """No cache variables set and nothing remembered: as a new process starts."""
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))
    for v in VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(_torch_caches, "_SET", {})
    monkeypatch.setattr(_torch_caches, "_TEMP", [])


def _private(path: str) -> bool:
    st = os.stat(path)
    return st.st_uid == os.getuid() and st.st_mode & 0o777 == 0o700


def test_inductor_compiles_into_a_private_folder_under_the_kernel_cache(tmp_path):
    c = actsearch.parse("x*sigmoid(a*x) + x**2; a=1.3")
    m = actsearch.compile(c, backend="inductor", device="cpu")
    m(torch.randn(64, 8)).sum().backward()
    folders = {v: os.environ[v] for v in VARIABLES}
    assert folders == {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "kernels" / "torchinductor"),
                       "TRITON_CACHE_DIR": str(tmp_path / "kernels" / "triton")}
    assert all(_private(f) for f in folders.values())
    assert any(Path(folders["TORCHINDUCTOR_CACHE_DIR"]).rglob("*")), "inductor wrote its cache elsewhere"


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_named_folder_others_can_write_is_refused(mode, tmp_path, monkeypatch):
    planted = tmp_path / "torchinductor_victim"
    planted.mkdir()
    planted.chmod(mode)
    (planted / "planted.pkl").write_bytes(b"not ours")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(planted))
    with pytest.warns(UserWarning, match=f"not using TORCHINDUCTOR_CACHE_DIR=.*writable by other users \\(mode {mode:o}\\)"):
        folders = _torch_caches.use_private_caches()
    assert folders["TORCHINDUCTOR_CACHE_DIR"] != str(planted) and _private(folders["TORCHINDUCTOR_CACHE_DIR"])
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == folders["TORCHINDUCTOR_CACHE_DIR"]


def test_a_named_private_folder_is_kept(tmp_path, monkeypatch):
    mine = tmp_path / "my-inductor-cache"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(mine))
    assert _torch_caches.use_private_caches()["TORCHINDUCTOR_CACHE_DIR"] == str(mine)
    assert _private(str(mine))


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's owner needs root")
def test_a_folder_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    planted = tmp_path / "kernels" / "triton"
    planted.mkdir(parents=True, mode=0o700)
    (tmp_path / "kernels").chmod(0o700)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.warns(UserWarning, match="for TRITON_CACHE_DIR: it is owned by uid 65534"):
        folders = _torch_caches.use_private_caches()
    assert folders["TRITON_CACHE_DIR"] != str(planted) and _private(folders["TRITON_CACHE_DIR"])
    assert folders["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "kernels" / "torchinductor")


def test_a_symlink_in_place_of_the_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "kernels").mkdir(mode=0o700)
    (tmp_path / "kernels" / "torchinductor").symlink_to(elsewhere)
    with pytest.warns(UserWarning, match="it is a symbolic link"):
        folders = _torch_caches.use_private_caches()
    assert folders["TORCHINDUCTOR_CACHE_DIR"] != str(tmp_path / "kernels" / "torchinductor")


_AS_NOBODY = textwrap.dedent("""
    import os, warnings
    warnings.simplefilter("always")
    from actsearch.compile import _torch_caches
    with warnings.catch_warnings(record=True) as caught:
        folders = _torch_caches.use_private_caches()
    for w in caught:
        print("WARNING", w.message)
    for v, f in sorted(folders.items()):
        st = os.stat(f)
        print(v, f, st.st_uid, oct(st.st_mode & 0o777))
""")


@pytest.mark.subprocess
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(),
                    reason="runs a process as another user (setpriv, as root)")
def test_as_another_user_the_roots_folders_are_refused():
    """The issue's attack from the victim's side: uid 65534 runs actsearch while the cache
    folders were made (mode 0777) by someone else; root ignores modes, so the victim is not root."""
    base = Path(tempfile.mkdtemp(prefix="actsearch-test-planted-"))  # pytest's tmp_path: root's alone
    try:
        base.chmod(0o755)
        shared = base / "shared-cache"
        planted = base / "torchinductor_nobody"
        for folder in (shared, planted):
            folder.mkdir()
            folder.chmod(0o777)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(base), "TMPDIR": "/tmp",
               "ACTSEARCH_CACHE": str(shared), "TORCHINDUCTOR_CACHE_DIR": str(planted)}
        proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                               sys.executable, "-c", _AS_NOBODY], capture_output=True, text=True, env=env,
                              timeout=120)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"not using TORCHINDUCTOR_CACHE_DIR={str(planted)!r}: it is owned by uid 0" in out
    assert f"not using {str(shared / 'triton')!r} for TRITON_CACHE_DIR: the kernel cache folder" in out
    assert "it is owned by uid 0, not by this user (uid 65534)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(VARIABLES)]
    assert len(rows) == 2
    for variable, folder, uid, mode in rows:
        assert not folder.startswith((str(shared), str(planted))), (variable, folder)
        assert (uid, mode) == (str(NOBODY), "0o700")
