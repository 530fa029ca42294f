"""``charlm``: a small decoder-only transformer language model over bytes.

Two pre-LayerNorm blocks (d=64, 4 heads, context 64); each feed-forward block is
``Linear(64, 256) -> activation -> Linear(256, 64)``, where RAFT and PolyCom place the
activation.  Trained with AdamW on random windows of a text file (option ``path``);
the default corpus is about 1 MB of the Python standard library's own ``.py``
sources (top-level modules in sorted order), so it needs no download.  The last 10%
of the text is held out; the metric is ``neg_bpc``, minus the validation bits per
character (per byte of UTF-8, the same for ASCII text), so higher is better.

Options: ``path``, ``steps_per_epoch`` (default 100), ``batch_size`` (32),
``lr`` (3e-3), ``context`` (64), ``d_model`` (64), ``layers`` (2).

Example:
    >>> import torch
    >>> from actsearch.tasks import get_task
    >>> out = get_task("charlm", steps_per_epoch=2).train(torch.nn.GELU, budget=1, seed=0)
    >>> out.status, out.score < 0
    ('ok', True)
"""

from __future__ import annotations

import math
import os
import sysconfig
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from actsearch.errors import TaskError

from ._common import seeded
from .base import Task, TrainLoop, error_result, runtime_of

__all__ = ["CharLM", "TinyTransformer", "default_corpus"]

_CORPUS_BYTES = 1_000_000
_CORPUS: dict[str, np.ndarray] = {}


def default_corpus(limit: int = _CORPUS_BYTES) -> bytes:
    """About ``limit`` bytes of the standard library's top-level ``.py`` files, sorted by name."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out, size = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        out.append(data)
        size += len(data)
        if size >= limit:
            break
    if size == 0:
        raise TaskError(f"no .py files in the standard library folder {str(root)!r}; pass a text file with path=")
    return b"".join(out)[:limit]


def _load(path: str | None) -> np.ndarray:
    key = path or "<stdlib>"
    if key not in _CORPUS:
        if path:
            try:
                raw = Path(path).read_bytes()
            except OSError as exc:
                raise TaskError(f"cannot read charlm text file {path!r}: {exc.strerror}") from None
        else:
            raw = default_corpus()
        _CORPUS[key] = np.frombuffer(raw, dtype=np.uint8).astype(np.int64)
    return _CORPUS[key]


class _Block(nn.Module):
    def __init__(self, d: int, heads: int, act_factory):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.act = act_factory()
        self.heads = heads

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


class TinyTransformer(nn.Module):
    """Decoder-only byte-level transformer.

    Shape: ``(N, T) int64 -> (N, T, 256)`` logits, ``T <= context``.
    """

    def __init__(self, act_factory, d_model: int = 64, layers: int = 2, heads: int = 4, context: int = 64):
        super().__init__()
        self.tok = nn.Embedding(256, d_model)
        self.pos = nn.Parameter(torch.zeros(context, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([_Block(d_model, heads, act_factory) for _ in range(layers)])
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 256)

    def forward(self, idx):
        h = self.tok(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h))


class CharLM(Task):
    name = "charlm"
    metric = "neg_bpc"
    default_budget = 5
    full_budget = 30
    #: options that name files: a search hands them to its workers as paths they can open
    path_options = ("path",)

    def __init__(self, path: str | None = None, steps_per_epoch: int = 100, batch_size: int = 32,
                 lr: float = 3e-3, context: int = 64, d_model: int = 64, layers: int = 2,
                 val_windows: int = 256):
        # resolved now, against the folder the task is made in: a trial may run elsewhere
        self.path = os.path.abspath(os.path.expanduser(path)) if path else None
        if self.path and not os.path.isfile(self.path):
            raise TaskError(f"cannot read charlm text file {path!r}: "
                            f"{'it is a folder' if os.path.isdir(self.path) else 'no such file'}")
        super().__init__(**({"path": self.path} if self.path else {}))
        self.steps, self.batch_size, self.lr = int(steps_per_epoch), int(batch_size), float(lr)
        self.context, self.d_model, self.layers = int(context), int(d_model), int(layers)
        self.val_windows = int(val_windows)
        self._keep_options(steps_per_epoch=self.steps, batch_size=self.batch_size, lr=self.lr,
                           context=self.context, d_model=self.d_model, layers=self.layers,
                           val_windows=self.val_windows)

    def train(self, act_factory, budget=None, seed=0, report=None):
        runtime = runtime_of(act_factory)
        data = torch.from_numpy(_load(self.path))
        split = int(0.9 * len(data))
        ctx = self.context
        if len(data) - split <= ctx + 1 or split <= ctx + 1:
            raise TaskError(f"charlm text is too short ({len(data)} bytes) for context {ctx}")
        train, val = data[:split].to(runtime.device), data[split:]
        gen = seeded(seed)
        try:
            model = TinyTransformer(act_factory, self.d_model, self.layers, context=ctx).to(runtime.device)
        except Exception as exc:  # noqa: BLE001
            return error_result(self, exc)
        acts = [b.act for b in model.blocks]
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=0.01)
        # fixed, evenly spaced validation windows: the same for every candidate
        starts = torch.linspace(0, len(val) - ctx - 2, min(self.val_windows, len(val) - ctx - 1)).long()
        xv = torch.stack([val[s:s + ctx] for s in starts]).to(runtime.device)
        yv = torch.stack([val[s + 1:s + ctx + 1] for s in starts]).to(runtime.device)
        window = torch.arange(ctx, device=runtime.device)

        def batches(epoch):
            # the epoch's window starts drawn at once (the same stream as one draw per
            # step) and moved to the device in one copy
            starts = torch.randint(0, len(train) - ctx - 1, (self.steps, self.batch_size), generator=gen)
            for s in starts.to(runtime.device):
                offs = s[:, None] + window
                yield train[offs], train[offs + 1]

        def loss_fn(m, x, y):
            return F.cross_entropy(m(x).reshape(-1, 256).float(), y.reshape(-1))

        def evaluate(m):
            total = torch.zeros((), dtype=torch.float64, device=runtime.device)  # one sync, not one per chunk
            for i in range(0, len(xv), 64):
                total += F.cross_entropy(m(xv[i:i + 64]).reshape(-1, 256).float(), yv[i:i + 64].reshape(-1),
                                         reduction="sum").double()
            return -float(total) / yv.numel() / math.log(2)

        return TrainLoop(self, model, acts, opt, batches, loss_fn, evaluate,
                         budget=int(budget or self.default_budget), report=report, runtime=runtime).run()
