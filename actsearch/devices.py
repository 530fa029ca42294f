"""Where training runs and in what precision: ``--device`` and ``--precision``.

``--device`` is ``auto`` (CUDA when torch sees a GPU, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``.  ``--precision`` is ``fp32`` or ``bf16``; ``bf16`` runs the
model's forward pass under :func:`torch.autocast` (on CUDA, and on a CPU too, where
it is slow but shows the same code path), so activations receive bfloat16 inputs;
the Triton kernels compute in float32 and write bfloat16.

:class:`Runtime` carries both to a task.  Built-in tasks read it from the activation
factory they are given (``act_factory.runtime``); so can a user's
``train(act_factory, budget, seed, report)`` function, without a change of
signature::

    def train(act_factory, budget, seed, report):
        rt = act_factory.runtime            # Runtime(device='cuda', precision='bf16')
        model = build_model(act_factory).to(rt.device)
        with rt.autocast():                 # bf16 when asked for, a no-op for fp32
            loss = loss_fn(model(x.to(rt.device)), y.to(rt.device))
        ...

torch is imported where it is used: the command line reads the names here
(``--precision`` choices) without loading it.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> Runtime("cpu", "fp32").describe()
    'cpu fp32'
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ActsearchError

if TYPE_CHECKING:
    import torch

__all__ = ["PRECISIONS", "resolve_device", "check_device_name", "check_precision", "Runtime"]

PRECISIONS = ("fp32", "bf16")

_CUDA_INDEX = re.compile(r"cuda:(\d+)")


def check_device_name(name: str) -> str:
    """``name`` if it is a device name we accept (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""
    text = str(name).strip().lower()
    if text in ("auto", "cpu", "cuda") or _CUDA_INDEX.fullmatch(text):
        return text
    raise ActsearchError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")


def check_precision(name: str) -> str:
    text = str(name).strip().lower()
    if text not in PRECISIONS:
        raise ActsearchError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    return text


def resolve_device(device: str | torch.device | None = "auto", *,
                   error: type[ActsearchError] = ActsearchError) -> torch.device:
    """The torch device ``device`` stands for in this process: a name (``auto``, ``cpu``,
    ``cuda``, ``cuda:N``) or a ``torch.device``; ``None`` and ``auto`` are CUDA when
    torch sees a GPU, else the CPU.

    Raises:
        ActsearchError: (or ``error``, e.g. :class:`~actsearch.errors.CompileError`) an
            unknown device, or a CUDA device asked for where torch sees none (or fewer).
    """
    import torch

    name = "auto" if device is None else device
    try:
        text = check_device_name(str(name))
    except ActsearchError as exc:
        raise error(str(exc)) from None
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise error(f"device {str(name)!r} asked for, but torch sees no CUDA GPU here{_visible_note()}")
    index = _CUDA_INDEX.fullmatch(text)
    if index and int(index.group(1)) >= torch.cuda.device_count():
        raise error(f"device {str(name)!r} asked for, but torch sees {torch.cuda.device_count()} GPU(s)")
    return torch.device(text)


def _visible_note() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return "" if visible is None else f" (CUDA_VISIBLE_DEVICES={visible!r})"


@dataclass(frozen=True)
class Runtime:
    """The device and precision a task trains in.

    Args:
        device: a torch device or its name (already resolved: not ``auto``).
        precision: ``fp32`` or ``bf16``.
    """

    device: torch.device | str = "cpu"
    precision: str = "fp32"

    def __post_init__(self):
        import torch

        object.__setattr__(self, "device", torch.device(self.device))
        object.__setattr__(self, "precision", check_precision(self.precision))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype activations see: bfloat16 under ``bf16``, else float32."""
        import torch

        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def autocast(self):
        """``torch.autocast`` for ``bf16``; a context that does nothing for ``fp32``."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def describe(self) -> str:
        """``"cpu fp32"``, ``"cuda:0 (NVIDIA H200) bf16"``: what a result records."""
        import torch

        where = str(self.device)
        if self.device.type == "cuda" and torch.cuda.is_available():
            where = f"{where} ({torch.cuda.get_device_name(self.device)})"
        return f"{where} {self.precision}"
