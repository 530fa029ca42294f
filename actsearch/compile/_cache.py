"""On-disk cache of generated kernel modules.

One file per ``(candidate.key, backend, CODEGEN_VERSION)`` in the cache directory:
``$ACTSEARCH_CACHE`` if set, else ``~/.cache/actsearch/kernels``.  The first line is
``# actsearch-cache sha256=<digest of the rest>``; an entry whose digest does not
match (truncated, edited, half-written by a crashed process) is ignored and
rebuilt.  Writes go to a temporary file in the same directory and are renamed into
place with :func:`os.replace`, so worker processes compiling the same candidate at
once never see a partial file.  A marker file ``<entry>.ok`` holding the same
digest is written once the kernel passed the check against the eager reference;
only a checked entry is reused without checking again.

Example:
    >>> import tempfile
    >>> cache = KernelCache(tempfile.mkdtemp())
    >>> path = cache.store("0123456789abcdef", "triton", "X = 1\\n")
    >>> cache.load_text("0123456789abcdef", "triton")
    'X = 1\\n'
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from ._codegen import CODEGEN_VERSION

__all__ = ["KernelCache", "default_cache_dir", "import_source_file"]

_MAGIC = "# actsearch-cache sha256="


def default_cache_dir() -> Path:
    env = os.environ.get("ACTSEARCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "actsearch" / "kernels"


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class KernelCache:
    """A directory of checksummed, atomically written entries."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()

    def path(self, key: str, backend: str) -> Path:
        return self.directory / f"k{key}_{backend}_v{CODEGEN_VERSION}.py"

    def load_text(self, key: str, backend: str) -> str | None:
        """The entry's body, or ``None`` when missing or corrupted."""
        try:
            raw = self.path(key, backend).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        header, sep, body = raw.partition("\n")
        if not sep or not header.startswith(_MAGIC) or header[len(_MAGIC):] != _digest(body):
            return None
        return body

    def store(self, key: str, backend: str, body: str) -> Path:
        target = self.path(key, backend)
        self._atomic_write(target, f"{_MAGIC}{_digest(body)}\n{body}")
        return target

    def mark_checked(self, key: str, backend: str, body: str) -> None:
        """Record that ``body`` passed the check against the eager reference."""
        self._atomic_write(self._marker(key, backend), _digest(body))

    def is_checked(self, key: str, backend: str, body: str) -> bool:
        try:
            return self._marker(key, backend).read_text(encoding="utf-8") == _digest(body)
        except (OSError, UnicodeDecodeError):
            return False

    def _marker(self, key: str, backend: str) -> Path:
        return self.path(key, backend).with_suffix(".ok")

    def _atomic_write(self, target: Path, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def import_source_file(path: Path, name: str) -> ModuleType:
    """Import a generated file as module ``name`` (triton.jit reads its source)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
