"""The files users ask for with ``--out``, written whole or not at all.

Each file goes to a temporary file beside it, and only when every one of them is
written are they renamed over their targets; a read-only folder, a folder where a
file should be, a full disk or an interrupt leaves no half-written file.  What goes
wrong becomes one :class:`~actsearch.ActsearchError` line naming the path.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_files({folder / "a.txt": "one", folder / "b.bin": b"two"})
    >>> sorted(p.name for p in folder.iterdir()), (folder / "a.txt").read_text()
    (['a.txt', 'b.bin'], 'one')
    >>> write_files({folder: "x"})
    Traceback (most recent call last):
    ...
    actsearch.errors.ActsearchError: cannot write '...': it is a folder
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

from ..errors import ActsearchError

__all__ = ["write_files", "make_folder", "remove_folders"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_target(path: Path, error: type[ActsearchError]) -> None:
    if path.is_dir():
        raise error(f"cannot write {str(path)!r}: it is a folder")
    if not path.parent.is_dir():
        raise error(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise error(f"cannot write {str(path)!r}: the file is read-only")


def _write_temporary(path: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp makes the file private; give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_files(files: Mapping["str | Path", "str | bytes"], error: type[ActsearchError] = ActsearchError) -> None:
    """Write every ``path: content`` of ``files`` (text as UTF-8), or none of them."""
    targets = {Path(p): c.encode("utf-8") if isinstance(c, str) else bytes(c) for p, c in files.items()}
    for path in targets:
        _check_target(path, error)
    written: dict[Path, str] = {}
    current = None
    try:
        for path, data in targets.items():
            current = path
            written[path] = _write_temporary(path, data)
        for path, tmp in written.items():
            current = path
            os.replace(tmp, path)
    except OSError as exc:
        raise error(f"cannot write {str(current)!r}: {exc.strerror or exc}") from None
    finally:
        for tmp in written.values():
            if os.path.exists(tmp):
                os.unlink(tmp)


def make_folder(folder: "str | Path", error: type[ActsearchError] = ActsearchError) -> list[Path]:
    """Create ``folder`` and missing parents; returns those created, innermost first
    (for :func:`remove_folders` when what was to go in them could not be written)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise error(f"--out {str(folder)!r} exists and is not a folder")
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create folder {str(folder)!r}: {exc.strerror or exc}") from None
    return missing


def remove_folders(created: list[Path]) -> None:
    """Remove the empty folders :func:`make_folder` created, innermost first."""
    for path in created:
        try:
            path.rmdir()
        except OSError:  # not empty (someone else wrote there) or already gone: leave it
            break
