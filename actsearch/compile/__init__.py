"""Candidate -> ``nn.Module`` with a fused forward/backward kernel.

Backends (one table, :mod:`actsearch.compile._backends`; add your own with
:func:`register_backend`):

- ``triton``: Triton kernels generated from the sympy expression (forward, d/dx and
  d/dparam as straight-line code over the formula's DAG, derivatives in reverse
  mode: linear in the formula's size) in one ``torch.autograd.Function``.  Runs on CUDA tensors, or on CPU tensors when
  ``TRITON_INTERPRET=1`` was set before triton was imported.
- ``inductor``: ``torch.compile`` of the eager formula.
- ``eager``: the reference, ``candidate.module()``.
- ``auto``: ``triton`` when the device is CUDA and triton imports, else ``eager``
  (on a CPU the default search ran in 22.3 s with eager against 37.0 s with
  inductor: compiling costs more than it saves on these small models).  If
  compiling or the check fails, ``eager`` with a warning saying why.

``device`` (a name or ``torch.device``; default CUDA when torch sees one, else the
CPU) is where the module will run: it picks ``auto``'s backend, the check runs
there, and the module is returned there.  A triton module compiled for a named
device refuses inputs on another one (:class:`~actsearch.errors.CompileError`)
instead of quietly running the eager formula; without ``device`` it falls back
to eager with a warning (see :class:`~actsearch.compile._triton.TritonActivation`).

Every compiled module is checked against ``candidate.module()`` before first use
(see :mod:`actsearch.compile._check`).  Generated kernels are cached on disk (see
:mod:`actsearch.compile._cache`: HMAC-tagged, never executed unless this cache
wrote them), keyed by a hash of the generated source, the backend and the torch and
Triton versions (a template or printer edit can never serve a stale kernel), and
memoised in-process, so a candidate seen before is not checked again on the same
kind of device.  PyTorch's and Triton's own caches are kept in private folders
under the kernel cache (:mod:`actsearch.compile._torch_caches`).

Example:
    >>> import torch, actsearch
    >>> m = actsearch.compile(actsearch.parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01"), backend="eager")
    >>> sorted(m.state_dict())
    ['params.eps']
"""

from actsearch._exports import lazy_exports

__all__ = ["compile_candidate", "BACKENDS", "Backend", "register_backend", "unregister_backend", "resolve_backend",
           "clear_memo"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "._compile": ("compile_candidate", "resolve_backend", "BACKENDS"),
    "._backends": ("Backend", "register_backend", "unregister_backend"),
    "._pipeline": ("clear_memo",),
})
