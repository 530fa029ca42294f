"""On-disk cache of generated kernel modules, keyed by their content, which executes only what it wrote.

One entry per ``(content key, backend)`` in the cache folder: ``$ACTSEARCH_CACHE`` if
set, else ``~/.cache/actsearch/kernels``.  The content key (:func:`content_key`) is
a hash of the generated source, the backend and the torch and Triton versions:
edit a function row's template, a helper or a printer and the source changes, so
the key does, and a kernel generated before is never served for it (no version
number to bump by hand).  An entry's first line is ``# actsearch-cache
hmac-sha256=<tag>``, an HMAC of the entry's name and body under a per-cache secret
(``.secret``: 32 random bytes, mode 0600, created with the folder).  A file planted
by someone without the secret, or a truncated, half-written or edited one, fails
the tag and is rewritten, never imported.  The marker that says "this kernel
passed the check against the eager reference on a <device>"
(``<entry>.<device>.ok``) is an HMAC too, so it cannot be forged or copied from
another entry.

:func:`open_cache` refuses a folder it cannot trust: one writable by other users
(group or world write bit), owned by someone else, or whose secret is readable by
others or not ours.  It then warns once (one line) and uses a fresh private
temporary folder for this process instead (``actsearch-kernels-<pid>-*``, removed
at exit, or by the next process that needs one when this one was killed).  A path
that is a file, not a folder, is a :class:`~actsearch.errors.CompileError` (one
line).  :func:`private_folder` applies the same rules to the folders of other caches
actsearch causes to be read (:mod:`actsearch.compile._torch_caches`).

Writes go to a temporary file in the same folder, renamed into place with
:func:`os.replace`, so workers compiling the same candidate at once never read a
partial file.  Imports run the verified text itself (registered with
:mod:`linecache` for ``triton.jit``, which reads its source), not the file again.

Example:
    >>> import tempfile
    >>> cache = open_cache(tempfile.mkdtemp())
    >>> key = content_key("triton", "X = 1\\n")
    >>> path = cache.store(key, "triton", "X = 1\\n")
    >>> cache.load_text(key, "triton")
    'X = 1\\n'
"""

from __future__ import annotations

import atexit
import errno
import functools
import hashlib
import hmac
import importlib.metadata
import linecache
import os
import secrets
import shutil
import stat
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

from actsearch._process import ended
from actsearch.errors import CompileError

__all__ = ["KernelCache", "default_cache_dir", "open_cache", "import_verified_source", "content_key",
           "private_folder", "untrusted"]

_MAGIC = "# actsearch-cache hmac-sha256="
_SECRET = ".secret"
#: refused folder -> the private temporary cache used instead, in this process
_FALLBACKS: dict[str, "KernelCache"] = {}
#: name of those private temporary caches, then the pid of the process using it
_FALLBACK_PREFIX = "actsearch-kernels-"


def default_cache_dir() -> Path:
    env = os.environ.get("ACTSEARCH_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "actsearch" / "kernels"


def _current_uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


@functools.cache
def _versions() -> str:
    """``torch <v>; triton <v>`` as installed (triton: ``none`` when missing)."""
    out = []
    for package in ("torch", "triton"):
        try:
            out.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{package} none")
    return "; ".join(out)


def content_key(backend: str, content: str) -> str:
    """The cache key of ``content`` (a generated source) for ``backend``: 32 hex digits of
    a SHA-256 over the backend's name, the torch and Triton versions and the content.

    Example:
        >>> content_key("triton", "a") == content_key("triton", "a") != content_key("triton", "b")
        True
    """
    digest = hashlib.sha256("\0".join((backend, _versions(), content)).encode("utf-8"))
    return digest.hexdigest()[:32]


class KernelCache:
    """A trusted folder of HMAC-tagged, atomically written entries (see :func:`open_cache`)."""

    def __init__(self, directory: Path, secret: bytes):
        self.directory = directory
        self._secret = secret

    def path(self, key: str, backend: str) -> Path:
        """The entry of content key ``key`` (:func:`content_key`) for ``backend``."""
        return self.directory / f"k{key}_{backend}.py"

    def _tag(self, *parts: str) -> str:
        return hmac.new(self._secret, "\0".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()

    def load_text(self, key: str, backend: str) -> str | None:
        """The entry's body, or ``None`` when missing, corrupted or not written by this cache."""
        path = self.path(key, backend)
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        header, sep, body = raw.partition("\n")
        tag = header[len(_MAGIC):] if header.startswith(_MAGIC) else ""
        if not sep or not hmac.compare_digest(tag, self._tag("entry", path.name, body)):
            return None
        return body

    def store(self, key: str, backend: str, body: str) -> Path:
        target = self.path(key, backend)
        self._atomic_write(target, f"{_MAGIC}{self._tag('entry', target.name, body)}\n{body}")
        return target

    def mark_checked(self, key: str, backend: str, body: str, device: str = "cpu") -> None:
        """Record that ``body`` passed the check against the eager reference on ``device``."""
        self._atomic_write(self._marker(key, backend, device), self._checked_tag(key, backend, body, device))

    def is_checked(self, key: str, backend: str, body: str, device: str = "cpu") -> bool:
        try:
            text = self._marker(key, backend, device).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(text, self._checked_tag(key, backend, body, device))

    def _checked_tag(self, key: str, backend: str, body: str, device: str) -> str:
        return self._tag("checked", self.path(key, backend).name, device, body)

    def _marker(self, key: str, backend: str, device: str) -> Path:
        return self.path(key, backend).with_suffix(f".{device}.ok")

    def _atomic_write(self, target: Path, text: str) -> None:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=target.suffix)
        except OSError as exc:
            raise CompileError(f"cannot write to the kernel cache {str(self.directory)!r}: {exc.strerror or exc}") \
                from None
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


def open_cache(directory: str | os.PathLike | None = None) -> KernelCache:
    """The cache in ``directory`` (default :func:`default_cache_dir`), created if missing.

    Raises:
        CompileError: the path is a file (or lies under one), or cannot be created.
    """
    folder = Path(directory).expanduser() if directory else default_cache_dir()
    if folder.exists() and not folder.is_dir():
        raise CompileError(f"kernel cache {str(folder)!r} (ACTSEARCH_CACHE or cache_dir) is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise CompileError(f"cannot create the kernel cache folder {str(folder)!r}: {exc.strerror or exc}") from None
    why = untrusted(folder)
    secret = None if why else _secret(folder)
    if secret is None:
        why = why or f"its {_SECRET} file is not a private file of this user"
        return _fallback(folder, why)
    return KernelCache(folder, secret)


def private_folder(folder: Path) -> str:
    """Create ``folder`` (mode 0700) if missing; why others could plant files in it
    ('' when they cannot): a symbolic link, not a folder, owned by another user, or
    writable by others.  The kernel cache's rules, for other caches' folders."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = folder.lstat()
    except OSError as exc:
        return f"it cannot be created: {exc.strerror or exc}"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    return untrusted(folder)


def untrusted(folder: Path) -> str:
    """Why other users could plant files in ``folder`` ('' when they cannot)."""
    st = folder.stat()
    uid = _current_uid()
    if uid >= 0 and st.st_uid != uid:
        return f"it is owned by uid {st.st_uid}, not by this user (uid {uid})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by other users (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def _secret(folder: Path) -> bytes | None:
    """The folder's secret, created on first use; ``None`` if the file is not private."""
    path = folder / _SECRET
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            _create_secret(folder, path)
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink planted in its place
                return None
            raise
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            uid = _current_uid()
            if not stat.S_ISREG(st.st_mode) or (uid >= 0 and st.st_uid != uid) or st.st_mode & 0o077:
                return None
            data = fh.read()
        return data if len(data) == 32 else None
    return None


def _create_secret(folder: Path, path: Path) -> None:
    # written in full to a private temporary file, then linked into place: a worker
    # starting at the same moment sees either no secret or the whole one
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-secret-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # a file system without hard links: exclusive create, then write
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
    finally:
        os.unlink(tmp)


def _fallback(folder: Path, why: str) -> KernelCache:
    key = str(folder)
    if key not in _FALLBACKS:
        # private to this process: a fresh mkdtemp folder (mode 0700) and a secret kept in memory
        _FALLBACKS[key] = KernelCache(_private_temporary(), secrets.token_bytes(32))
        # one line: no source line under it (nothing there helps whoever reads it)
        warnings.warn_explicit(
            f"not using the kernel cache {key!r}: {why}; using a private temporary cache for this process "
            f"instead ({_FALLBACKS[key].directory})", UserWarning, "actsearch", 0, module="actsearch.compile")
    return _FALLBACKS[key]


def _private_temporary() -> Path:
    """A fresh private temporary folder, removed at exit; folders of this user's
    processes that ended without removing theirs (killed) are removed first."""
    for entry in Path(tempfile.gettempdir()).glob(_FALLBACK_PREFIX + "*"):
        pid = entry.name[len(_FALLBACK_PREFIX):].split("-", 1)[0]
        try:
            st = entry.lstat()
        except OSError:
            continue
        if pid.isdigit() and stat.S_ISDIR(st.st_mode) and st.st_uid == _current_uid() and ended(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{_FALLBACK_PREFIX}{os.getpid()}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def import_verified_source(text: str, filename: Path, name: str) -> ModuleType:
    """Import ``text`` (already verified) as module ``name``, as if read from ``filename``.

    ``triton.jit`` reads a kernel's source through :mod:`inspect`; registering the
    text with :mod:`linecache` makes it read this text, not the file on disk.
    """
    fname = str(filename)
    linecache.cache[fname] = (len(text), None, text.splitlines(keepends=True), fname)
    module = ModuleType(name)
    module.__file__ = fname
    sys.modules[name] = module
    try:
        exec(compile(text, fname, "exec"), module.__dict__)  # noqa: S102 - our own verified text
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
