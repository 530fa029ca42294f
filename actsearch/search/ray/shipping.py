"""What a search sends to the nodes of a Ray cluster: the user's code and files.

A user's task (``--task module:function``), the files it reads and local packages
must reach every node.  :func:`runtime_env` builds Ray's ``runtime_env``:

- ``working_dir``: ``--working-dir DIR``, or by default the current folder when the
  task is a user's ``module:function`` and the search joins a cluster (``--address``);
  a private local Ray instance needs nothing shipped.  Ray unpacks it on each node
  and starts the workers there, so the task module imports and relative paths
  resolve as they do here.  Left out: :data:`EXCLUDES` (``.git``, virtual
  environments, ``results/``, caches, databases), what ``.gitignore`` and
  ``.rayignore`` exclude (Ray's rule), and files of :data:`LARGE_FILE` bytes or more
  (named in a note: put them where every node can read them).  A folder still
  larger than Ray's limit (512 MiB) or with more than :data:`MAX_FILES` files is
  refused in one line.
- ``py_modules``: ``--py-module PATH`` (a package folder, a ``.py`` file or a wheel).
- ``env_vars``: ``RAY_CHDIR_TO_TRIAL_DIR=0``: Tune leaves the workers in that folder.

:func:`trial_task_options` turns the task's path options (``charlm``'s ``path``)
into what a worker can open: a path inside the shipped folder relative to it,
any other an absolute path (which the nodes must then share).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from actsearch.errors import ActsearchError
from actsearch.tasks.mark import split_spec

__all__ = ["runtime_env", "Shipment", "trial_task_options", "trial_task_spec", "EXCLUDES", "LARGE_FILE",
           "MAX_FILES", "ship_by_default"]

#: never shipped (gitignore-style patterns, as Ray's ``excludes``)
EXCLUDES = (".git", ".hg", ".svn", ".venv", "venv", ".env", "__pycache__", "*.pyc", ".mypy_cache",
            ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "node_modules", "results", "*.db", "*.db-wal",
            "*.db-shm", "*.egg-info", "build", "dist", ".tox", "wandb", "mlruns")
#: files this large or larger are left behind (and named)
LARGE_FILE = 50 * 2**20
#: a folder with more files than this is refused (a home folder shipped by mistake)
MAX_FILES = 20_000


def _ray_limit() -> int:
    try:
        from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE

        return int(GCS_STORAGE_MAX_SIZE)
    except Exception:  # noqa: BLE001 - a Ray without it: its documented limit
        return 512 * 2**20


@dataclass
class Shipment:
    """Ray's ``runtime_env`` and what the user should know about it (``notes``)."""

    env: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    working_dir: str | None = None


def ship_by_default(task: str, address: str | None) -> bool:
    """Whether the current folder is shipped when no ``--working-dir`` is given."""
    return bool(address) and ":" in task


def runtime_env(*, task: str, address: str | None, working_dir: str | None = None,
                py_modules: list[str] | tuple[str, ...] = ()) -> Shipment:
    """The ``runtime_env`` of a search (see the module docstring)."""
    out = Shipment(env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}})
    folder = working_dir or (os.getcwd() if ship_by_default(task, address) else None)
    if folder:
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            raise ActsearchError(f"--working-dir {working_dir!r} is not a folder")
        large = _check_folder(folder)
        out.env["working_dir"] = folder
        out.env["excludes"] = list(EXCLUDES) + ["/" + os.path.relpath(p, folder) for p, _ in large]
        out.working_dir = folder
        if large:
            shown = ", ".join(f"{os.path.relpath(p, folder)} ({size / 2**20:.0f} MiB)" for p, size in large[:3])
            more = f" and {len(large) - 3} more" if len(large) > 3 else ""
            out.notes.append(f"not shipped to the cluster (over {LARGE_FILE // 2**20} MiB): {shown}{more}; "
                             "put such files where every node can read them")
    modules = []
    for path in py_modules or ():
        full = os.path.abspath(path)
        if not (os.path.isdir(full) or full.endswith((".py", ".whl")) and os.path.isfile(full)):
            raise ActsearchError(f"--py-module {path!r} is not a package folder, a .py file or a .whl file")
        modules.append(full)
    if modules:
        out.env["py_modules"] = modules
    return out


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pat) for pat in EXCLUDES)


def _check_folder(folder: str) -> list[tuple[str, int]]:
    """The files of ``folder`` to leave behind for their size; refuses a folder over
    Ray's limit or with too many files."""
    ignored = _ignore_rules(folder)
    total, count, large = 0, 0, []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not _excluded(d) and not ignored(os.path.join(root, d))]
        for name in files:
            path = os.path.join(root, name)
            if _excluded(name) or ignored(path) or os.path.islink(path):
                continue
            count += 1
            if count > MAX_FILES:
                raise ActsearchError(f"the folder shipped to the cluster ({folder}) holds more than {MAX_FILES} "
                                     "files; pass --working-dir with only what the task needs (or list the rest "
                                     "in a .rayignore file)")
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            if size >= LARGE_FILE:
                large.append((path, size))
            else:
                total += size
    limit = _ray_limit()
    if total >= limit:
        raise ActsearchError(f"the folder shipped to the cluster ({folder}) holds {total / 2**20:.0f} MiB; Ray "
                             f"ships at most {limit / 2**20:.0f} MiB: pass --working-dir with only what the task "
                             "needs, or list the rest in a .rayignore file")
    return sorted(large, key=lambda item: -item[1])


def _ignore_rules(folder: str):
    """Ray's own .gitignore/.rayignore rules for ``folder`` (top level), or none."""
    try:
        from pathlib import Path

        from ray._private.runtime_env.packaging import get_excludes_from_ignore_files

        quiet = logging.getLogger("actsearch.shipping")
        quiet.propagate = False
        rules = get_excludes_from_ignore_files(Path(folder), include_gitignore=True, logger=quiet)
    except Exception:  # noqa: BLE001 - no pathspec or another Ray: Ray applies them anyway
        rules = []

    def ignored(path: str) -> bool:
        from pathlib import Path

        return any(rule(Path(path)) for rule in rules)

    return ignored


def trial_task_options(options: dict[str, Any], path_keys, working_dir: str | None) -> dict[str, Any]:
    """``options`` with each path option (``path_keys``) made openable on a worker:
    relative to ``working_dir`` when the file lies in it (the workers start there),
    else absolute.

    Example:
        >>> trial_task_options({"path": "data/c.txt", "lr": "0.1"}, ("path",), os.getcwd())
        {'path': 'data/c.txt', 'lr': '0.1'}
        >>> trial_task_options({"path": "c.txt"}, ("path",), None) == {"path": os.path.abspath("c.txt")}
        True
    """
    out = dict(options)
    for key in path_keys:
        value = out.get(key)
        if isinstance(value, str) and value:
            out[key] = _openable(value, working_dir)
    return out


def trial_task_spec(task: str, working_dir: str | None) -> str:
    """``task`` as a worker loads it: a ``path/to/file.py:function`` task's file made
    openable there (as :func:`trial_task_options` does for paths); other names unchanged.

    Example:
        >>> trial_task_spec("digits", None), trial_task_spec("pkg.mod:train", None)
        ('digits', 'pkg.mod:train')
        >>> trial_task_spec("my_task.py:train", None) == os.path.abspath("my_task.py") + ":train"
        True
    """
    if ":" not in task:
        return task
    where, attr, is_file = split_spec(task)
    return f"{_openable(where, working_dir)}:{attr}" if is_file else task


def _openable(value: str, working_dir: str | None) -> str:
    full = os.path.abspath(os.path.expanduser(value))
    if working_dir and os.path.commonpath([full, working_dir]) == working_dir:
        return os.path.relpath(full, working_dir)
    return full
