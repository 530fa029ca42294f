"""The check every compiled module passes before first use.

It runs on the device the module is compiled for (``compile_candidate``'s
``device``): a kernel that passed on the CPU interpreter has not passed on a GPU.
The compiled module and ``candidate.module()`` run on the same random float32
input (shape ``(8, 129)``: several rows for row-wise candidates, an odd length so
block masks matter) with the same random output gradient.  Outputs, the input
gradient and every parameter gradient are compared element by element.

An element passes when the compiled value is within ``rtol * |eager| + atol`` of
the eager float32 value, widened by the eager value's own error against a float64
evaluation (so a formula that loses digits in float32 anyway is not blamed on the
kernel) and by four times its round-off (how far the eager float32 value moves when
the input moves one ulp either way: a gradient that is a small difference of large
terms, as rmsnorm's over a row of one feature, is mostly round-off in float32 whoever
computes it), or within ``rtol * |ref64| + atol`` of the float64 value itself.
``atol`` is ``rtol`` times the largest finite magnitude of that quantity for
outputs and input gradients; for a parameter gradient, a sum over every element,
it is ``rtol`` times the sum of the magnitudes of its per-element terms.  Where
eager float32 is not finite the compiled value must not be finite either.

Example:
    >>> import actsearch
    >>> c = actsearch.parse("x*sigmoid(x)")
    >>> check_module(c.module(), c)  # the reference agrees with itself
"""

from __future__ import annotations

import torch

from actsearch.errors import CompileError

__all__ = ["check_module", "check_inputs", "RTOL"]

RTOL = 1e-5
_SHAPE = (8, 129)


def _run(module, x: torch.Tensor, g: torch.Tensor):
    x = x.detach().requires_grad_(True)  # a new leaf with x's own strides (clone would make some contiguous)
    for p in module.parameters():
        p.grad = None
    y = module(x)
    y.backward(g)
    grads = {k: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for k, p in module.params.items()}
    return {"output": y.detach(), "grad x": x.grad.detach(), **{f"grad {k}": v for k, v in grads.items()}}


def _param_term_scale(candidate, x64: torch.Tensor, g64: torch.Tensor) -> dict[str, float]:
    # sum over elements of |g * dy/dp|: each parameter broadcast to x's shape
    fn = candidate.torch_fn()
    params = {k: torch.full_like(x64, v, requires_grad=True) for k, v in candidate.params.items()}
    if not params:
        return {}
    y = fn(x64, params)
    y.backward(g64)
    return {f"grad {k}": float(torch.nan_to_num(p.grad.abs(), posinf=0.0).sum()) for k, p in params.items()}


def _roundoff(ref32, x32: torch.Tensor, g32: torch.Tensor, eager: dict) -> dict[str, torch.Tensor]:
    """Per quantity, how far float32 eager moves when x moves one ulp either way (finite
    changes only): the round-off of a value computed as a small difference of large terms
    (rmsnorm's input gradient over a row of one feature), where its error at x alone
    may be small by chance."""
    out = {}
    for direction in (float("inf"), float("-inf")):
        moved = _run(ref32, torch.nextafter(x32, torch.full_like(x32, direction)), g32)
        for what, e in eager.items():
            d = torch.nan_to_num((moved[what] - e).abs().double().cpu(), nan=0.0, posinf=0.0)
            out[what] = torch.maximum(out[what], d) if what in out else d
    return out


def check_module(module, candidate, device: str | torch.device = "cpu", seed: int = 0, rtol: float = RTOL) -> None:
    """Raise :class:`CompileError` unless ``module`` matches the eager reference."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(_SHAPE, generator=gen) * 2.0
    g = torch.randn(_SHAPE, generator=gen)
    check_inputs(module, candidate, x.to(device), g.to(device), rtol=rtol)


def check_inputs(module, candidate, x: torch.Tensor, g: torch.Tensor, rtol: float = RTOL) -> None:
    """:func:`check_module`'s comparison at a given input ``x`` and output gradient ``g``.

    ``x`` and ``g`` lie on the module's device, in any shape, strides (the module
    sees ``x`` as it is) and floating dtype.  The references run on the same values
    (eager in float32 on that device, float64 on the CPU).  Outputs and the input
    gradient of a bfloat16/float16 ``x`` are rounded once to its dtype, so their
    relative tolerance is at least that dtype's epsilon (twice the rounding's
    relative error; ``atol`` stays ``rtol`` times the largest magnitude);
    parameter gradients are float32 sums whatever the input dtype, and keep ``rtol``.
    """
    value_rtol = max(rtol, torch.finfo(x.dtype).eps) if x.dtype in (torch.bfloat16, torch.float16) else rtol
    ref32 = candidate.module().to(x.device)
    ref64 = candidate.module(dtype=torch.float64)
    with torch.no_grad():  # the compiled module may hold learned values: compare at those
        for k, p in module.params.items():
            ref32.params[k].copy_(p)
            ref64.params[k].copy_(p)
    try:
        got = _run(module, x, g)
    finally:  # leave no gradient behind in the module handed to the user
        for p in module.parameters():
            p.grad = None
    x32, g32 = x.detach().float(), g.float()
    eager = _run(ref32, x32, g32)
    noise = _roundoff(ref32, x32, g32, eager)
    x64, g64 = x.detach().cpu().double(), g.cpu().double()
    exact = _run(ref64, x64, g64)
    term_scale = _param_term_scale(candidate, x64, g64)

    worst = (0.0, "", 0.0, 0.0)  # (excess ratio, what, compiled, eager)
    for what, e in eager.items():
        c = got[what].detach().float().cpu().reshape(e.shape)
        e = e.float().cpu()
        r = exact[what].cpu()
        c64, e64 = c.double(), e.double()
        finite_e = torch.isfinite(e64)
        if what in term_scale:
            tol = rtol
            atol = rtol * term_scale[what]
        else:
            tol = value_rtol  # the final rounding is relative; the float32 arithmetic's slack stays atol
            mags = r[torch.isfinite(r)].abs()
            atol = rtol * float(mags.max()) if mags.numel() else rtol
        atol = max(atol, 1e-30)
        eager_err = torch.where(torch.isfinite(r), (e64 - r).abs(), torch.zeros_like(r))
        tol_e = tol * e64.abs() + atol + 4.0 * (eager_err + noise[what])
        tol_r = tol * r.abs() + atol
        diff_e = (c64 - e64).abs()
        ok = (diff_e <= tol_e) | ((c64 - r).abs() <= tol_r)
        ok = torch.where(finite_e, ok & torch.isfinite(c64), ~torch.isfinite(c64) | ((c64 - r).abs() <= tol_r))
        ratio = torch.where(ok, torch.zeros_like(diff_e), torch.nan_to_num(diff_e / tol_e, nan=float("inf")) + 1.0)
        i = int(torch.argmax(ratio))
        if float(ratio.reshape(-1)[i]) > worst[0]:
            worst = (float(ratio.reshape(-1)[i]), what, float(c64.reshape(-1)[i]), float(e64.reshape(-1)[i]))
    if worst[0] > 0.0:
        _, what, cv, ev = worst
        raise CompileError(
            f"compiled kernel for {candidate.text!r} disagrees with the eager reference: "
            f"worst {what}: {cv:.8g} vs eager {ev:.8g} (difference {abs(cv - ev):.3g})"
        )
