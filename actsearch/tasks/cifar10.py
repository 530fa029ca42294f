"""``cifar10-resnet``: a small ResNet (3 stages of 16/32/64 channels) on CIFAR-10.

Data: the official CIFAR-10 python archive, downloaded on first use into the cache
folder (``$ACTSEARCH_DATA`` or ``~/.cache/actsearch/data``).  Its batches are
pickles, so the archive's MD5 is checked *before* anything is unpickled, and the
unpickler only accepts numpy array reconstruction (no other globals).  The arrays
are then cached as ``cifar10-<md5>.npz``.

Options: ``subset`` (training images per epoch, default 10000, so an epoch takes
about a minute on one core), ``lr``, ``batch_size``, ``archive`` (a local copy of the
archive) and ``expected_md5`` (``None`` skips the check: only for tests' generated
archives).

Example::

    from actsearch.tasks import get_task
    task = get_task("cifar10-resnet", subset=5000)
    out = task.train(torch.nn.ReLU, budget=1, seed=0)
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch import nn

from actsearch.errors import TaskError

from ._common import train_classifier
from ._data import _MEMO, _atomic_savez, cache_dir
from .base import Task

__all__ = ["CIFAR10ResNet", "ResNet", "load_cifar10", "CIFAR_URL", "CIFAR_MD5"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"
_TRAIN = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
_TEST = "cifar-10-batches-py/test_batch"
_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)


class _ArrayUnpickler(pickle.Unpickler):
    """Accepts dicts, lists, bytes, str, ints and numpy arrays; refuses every other global."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 wrap bytes in it
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    os.close(fd)
    try:
        with urllib.request.urlopen(CIFAR_URL, timeout=60) as resp, open(tmp, "wb") as out:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, dest)
    except OSError as exc:
        raise TaskError(
            f"cannot download CIFAR-10 from {CIFAR_URL} ({exc}); download it by hand and pass "
            f"--task-option archive=PATH, or place it at {dest}"
        ) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_batch(tar: tarfile.TarFile, member: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = tar.extractfile(member).read()
    except (KeyError, AttributeError):
        raise TaskError(f"the CIFAR-10 archive has no {member!r}") from None
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, KeyError, ValueError, TypeError, EOFError) as exc:
        raise TaskError(f"CIFAR-10 batch {member!r} is malformed: {exc}") from None
    return data, labels


def load_cifar10(archive: str | os.PathLike | None = None, expected_md5: str | None = CIFAR_MD5
                 ) -> dict[str, np.ndarray]:
    """``x (N, 3, 32, 32) uint8``, ``y``, ``x_test``, ``y_test`` from the python archive.

    Downloads to the cache when ``archive`` is ``None`` and it is not there yet.
    Raises :class:`TaskError` when the archive's MD5 is not ``expected_md5``.
    """
    path = Path(archive) if archive else cache_dir() / "cifar-10-python.tar.gz"
    if not path.exists():
        if archive:
            raise TaskError(f"CIFAR-10 archive {str(path)!r} does not exist")
        _download(path)
    digest = _md5(path)
    if expected_md5 is not None and digest != expected_md5:
        raise TaskError(f"CIFAR-10 archive {str(path)!r} has MD5 {digest}, expected {expected_md5}; "
                        "delete it to download again")
    npz = cache_dir() / f"cifar10-{digest}.npz"
    if str(npz) in _MEMO:
        return _MEMO[str(npz)]
    if not npz.exists():
        with tarfile.open(path, "r:gz") as tar:
            parts = [_read_batch(tar, m) for m in _TRAIN]
            x_test, y_test = _read_batch(tar, _TEST)
        arrays = {"x": np.concatenate([p[0] for p in parts]), "y": np.concatenate([p[1] for p in parts]),
                  "x_test": x_test, "y_test": y_test}
        _atomic_savez(npz, arrays)
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    _MEMO[str(npz)] = arrays
    return arrays


class _Block(nn.Module):
    def __init__(self, cin, cout, stride, act_factory):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act1, self.act2 = act_factory(), act_factory()
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(h)) + self.short(x))


class ResNet(nn.Module):
    """ResNet-8 style: stem conv(16) + 3 basic blocks (16, 32, 64 channels) + linear.

    Shape: ``(N, 3, 32, 32) -> (N, 10)``; 7 activation modules.
    """

    def __init__(self, act_factory, classes: int = 10, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]))
        self.act0 = act_factory()
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(_Block(cin, w, 1 if i == 0 else 2, act_factory))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def activations(self) -> list[nn.Module]:
        return [self.act0] + [a for b in self.blocks for a in (b.act1, b.act2)]

    def forward(self, x):
        h = self.blocks(self.act0(self.stem(x)))
        return self.fc(h.mean((2, 3)))


class CIFAR10ResNet(Task):
    name = "cifar10-resnet"
    metric = "val_accuracy"
    default_budget = 2
    full_budget = 10

    def __init__(self, subset: int = 10000, lr: float = 1e-3, batch_size: int = 128,
                 archive: str | None = None, expected_md5: str | None = CIFAR_MD5, test_subset: int = 2000):
        opts = {"subset": int(subset)} if int(subset) != 10000 else {}
        if archive:
            opts["archive"] = os.path.abspath(archive)
        super().__init__(**opts)
        self.subset, self.lr, self.batch_size = int(subset), float(lr), int(batch_size)
        self.archive, self.expected_md5, self.test_subset = archive, expected_md5, int(test_subset)
        self._keep_options(lr=self.lr, batch_size=self.batch_size, test_subset=self.test_subset)

    def _tensors(self):
        d = load_cifar10(self.archive, self.expected_md5)
        mean, std = _MEAN[:, None, None], _STD[:, None, None]

        def norm(x):
            return torch.from_numpy((x.astype(np.float32) / 255.0 - mean) / std)

        return (norm(d["x"][: self.subset]), torch.from_numpy(d["y"][: self.subset]),
                norm(d["x_test"][: self.test_subset]), torch.from_numpy(d["y_test"][: self.test_subset]))

    def train(self, act_factory, budget=None, seed=0, report=None):
        x, y, xt, yt = self._tensors()
        return train_classifier(
            self, lambda: ResNet(act_factory), ResNet.activations, {"x": x, "y": y, "x_test": xt, "y_test": yt},
            lr=self.lr, batch_size=self.batch_size, budget=budget, seed=seed, report=report,
            eval_batch_size=500, act_factory=act_factory,
        )
