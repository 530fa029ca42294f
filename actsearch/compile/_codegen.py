"""Candidate -> Triton source of its forward and backward kernels.

Forward and derivatives are straight-line code over the formula's DAG
(:class:`~actsearch.compile._straight.Program`: one temporary per distinct node,
derivatives in reverse mode), each assignment printed by
:class:`~actsearch.compile._printer.TritonPrinter`; size and time grow linearly
with the formula, and generation stops at :data:`MAX_SOURCE_CHARS` characters or
the :class:`~actsearch.compile._straight.Deadline` (both a ``CompileError`` naming
the candidate).

Elementwise candidates get ``fwd(x, p, y, n)`` and ``bwd(x, g, p, gx, gp, n)`` over
blocks of ``BLOCK`` elements; ``bwd`` reduces each parameter's gradient over its
block with ``tl.sum`` and writes one float32 partial per parameter per program
(summed by torch afterwards: deterministic, no atomics).

Row-wise candidates (``rmsnorm``, e.g. PolyNorm) get one program per row of the
last dimension: ``fwd``/``bwd`` hold the whole row in one block, ``fwd_long``/
``bwd_long`` walk a longer row in chunks (:mod:`~actsearch.compile._launch` picks).  With ``y = F(x, r_1..r_K)``,
``r_k = u_k * inv_k``, ``u_k = g_k(x)``, ``inv_k = (mean(u_k**2) + eps)**-1/2``,
the backward uses ``dL/du_k = inv_k * (h_k - r_k * mean(h_k * r_k))`` with
``h_k = g * dF/dr_k``.

Example:
    >>> import actsearch
    >>> src = generate_source(actsearch.parse("relu(x)**2 + b; b=0.0"))
    >>> "def fwd(" in src and "def bwd(" in src
    True
"""

from __future__ import annotations

import sympy

from actsearch.symbolic.parser import X
from actsearch.symbolic.text import ATOM, enclosed
from actsearch.errors import CompileError
from actsearch.symbolic.functions import RMSNORM_EPS, rmsnorm

from ._printer import KernelTooLarge, TritonPrinter, helpers, real_abs
from ._straight import Deadline, GenerationLimit, Program

__all__ = ["generate_source", "kernel_size_ok", "MAX_SOURCE_CHARS", "KernelTooLarge", "GenerationLimit"]

#: largest generated module source, in characters; the largest candidates of the
#: search spaces need under 20,000 (helpers included)
MAX_SOURCE_CHARS = 400_000

_HEADER = "import triton\nimport triton.language as tl\n"


def _prepare(expr: sympy.Expr) -> sympy.Expr:
    return expr.replace(sympy.Abs, real_abs)


#: (an expression, [(output name, the symbol to differentiate it by), ...])
Gradient = tuple[sympy.Expr, list[tuple[str, sympy.Symbol]]]


class _Emitter:
    """Prints named values and derivatives as straight-line code (a :class:`Program` per call).

    One :class:`TritonPrinter` per kernel body, so temporaries are numbered once
    and the size limit covers the whole body; one :class:`Deadline` per kernel module.
    """

    def __init__(self, names: dict[sympy.Symbol, str], deadline: Deadline, indent: str = "    "):
        self.printer = TritonPrinter(names, max_chars=MAX_SOURCE_CHARS)
        self.deadline = deadline
        self.indent = indent
        self.lines: list[str] = []

    @property
    def names(self) -> dict[sympy.Symbol, str]:
        return self.printer.names

    def emit(self, outputs: list[tuple[str, sympy.Expr]], prefix: str, gradients: list[Gradient] = ()) -> None:
        """``name = value`` for each output and each derivative asked for in ``gradients``,
        after the assignments they need (temporaries ``prefix<i>``, local to this call)."""
        program = Program(prefix, self.deadline)
        results = [(name, program.value(expr)) for name, expr in outputs]
        for expr, wanted in gradients:
            _, derivatives = program.gradient(expr, [s for _, s in wanted])
            results += [(name, d) for (name, _), d in zip(wanted, derivatives)]
        for temp, _ in program.assignments:
            self.names[temp] = str(temp)
        for temp, local in program.assignments:
            self.assign(str(temp), local)
        for name, value in results:
            self.assign(name, value, whole=True)

    def assign(self, name: str, expr: sympy.Expr, whole: bool = False) -> None:
        """``name = <expr>`` after the statements it needs; ``whole`` parenthesizes a
        compound right side (outputs read as one value: ``y = (a + b)``)."""
        statements, text = self.printer.print_statements(expr)
        if whole and not ATOM.fullmatch(text) and not enclosed(text):
            text = f"({text})"
        self.lines += [self.indent + s for s in statements]
        self.lines.append(f"{self.indent}{name} = {text}")

    def raw(self, line: str) -> None:
        self.printer.account(len(line))
        self.lines.append(self.indent + line)


def _param_loads(n: int) -> list[str]:
    return [f"p_{i} = tl.load(p_ptr + {i})" for i in range(n)]


def _names(candidate) -> tuple[dict[sympy.Symbol, str], list[sympy.Symbol]]:
    psyms = list(candidate.param_symbols.values())
    names = {X: "x"}
    names.update({s: f"p_{i}" for i, s in enumerate(psyms)})
    return names, psyms


def _elementwise_source(candidate, deadline: Deadline) -> str:
    names, psyms = _names(candidate)
    expr = _prepare(candidate.expr)
    np_ = len(psyms)

    fwd = _Emitter(names, deadline)
    for line in _param_loads(np_):
        fwd.raw(line)
    fwd.emit([("y", expr)], "_f")

    bwd = _Emitter(names, deadline)
    for line in _param_loads(np_):
        bwd.raw(line)
    bwd.emit([], "_b", [(expr, [("dydx", X)] + [(f"dydp_{i}", s) for i, s in enumerate(psyms)])])
    bwd.raw("gx = g * dydx")
    for i in range(np_):
        bwd.raw(f"tl.store(gp_ptr + pid * {max(np_, 1)} + {i}, tl.sum(tl.where(mask, g * dydp_{i}, 0.0), axis=0))")

    body = f'''
@triton.jit
def fwd(x_ptr, p_ptr, y_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
{chr(10).join(fwd.lines)}
    y = y + tl.zeros_like(x)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def bwd(x_ptr, g_ptr, p_ptr, gx_ptr, gp_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
{chr(10).join(bwd.lines)}
    tl.store(gx_ptr + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
'''
    return _module(body, [fwd, bwd], rowwise=False, nparams=np_)


def _split_rmsnorm(expr: sympy.Expr) -> tuple[sympy.Expr, list[sympy.Expr], list[sympy.Symbol]]:
    nodes = sorted(expr.atoms(rmsnorm), key=sympy.default_sort_key)
    inners = [n.args[0] for n in nodes]
    if any(i.has(rmsnorm) for i in inners):
        raise CompileError("the triton backend does not support rmsnorm nested inside rmsnorm")
    rsyms = [sympy.Symbol(f"_r{k}", real=True) for k in range(len(nodes))]
    outer = expr.xreplace(dict(zip(nodes, rsyms)))
    return outer, inners, rsyms


class _RowParts:
    """What the row-wise kernels of a candidate compute, as sympy outputs.

    With ``y = F(x, r_1..r_K)``, ``r_k = u_k * inv_k``: ``inners`` are the
    ``u_k = g_k(x)``, ``rsyms`` the ``r_k`` standing in ``outer`` = F."""

    def __init__(self, candidate, deadline: Deadline):
        self.names, self.psyms = _names(candidate)
        self.outer, inners, self.rsyms = _split_rmsnorm(_prepare(candidate.expr))
        self.inners = [_prepare(i) for i in inners]
        self.k = len(self.rsyms)
        self.np = len(self.psyms)
        self.deadline = deadline

    def emitter(self) -> _Emitter:
        em = _Emitter(dict(self.names), self.deadline)
        for line in _param_loads(self.np):
            em.raw(line)
        return em

    def u(self) -> list[tuple[str, sympy.Expr]]:
        return [(f"u_{k}", g) for k, g in enumerate(self.inners)]

    def u_derivatives(self) -> list[Gradient]:
        """Each ``u_k``'s derivatives by x (``dudx_k``) and by each parameter (``dudp_k_i``)."""
        return [(g, [(f"dudx_{k}", X)] + [(f"dudp_{k}_{i}", s) for i, s in enumerate(self.psyms)])
                for k, g in enumerate(self.inners)]

    def dydr(self) -> list[Gradient]:
        return [(self.outer, [(f"dydr_{k}", r) for k, r in enumerate(self.rsyms)])]

    def outer_derivatives(self) -> list[Gradient]:
        return [(self.outer, [("dydx", X)] + [(f"dydr_{k}", r) for k, r in enumerate(self.rsyms)]
                 + [(f"dydp_{i}", s) for i, s in enumerate(self.psyms)])]

    def masked_u(self, em: _Emitter) -> None:
        for k in range(self.k):
            em.raw(f"u_{k} = tl.where(mask, u_{k} + tl.zeros_like(x), 0.0)")

    def r(self, em: _Emitter) -> None:
        for k in range(self.k):
            em.raw(f"r_{k} = u_{k} * inv_{k}")
            em.names[self.rsyms[k]] = f"r_{k}"

    def inv(self, em: _Emitter, sumsq: str) -> None:
        for k in range(self.k):
            em.raw(f"inv_{k} = 1.0 / tl.sqrt({sumsq.format(k=k)} / ncols + {_EPS})")

    def gx_and_param_terms(self, em: _Emitter, mean_hr: str) -> list[str]:
        """``gx`` from ``g``, the outer derivatives and ``du_k``; the masked
        per-element terms of each parameter's gradient."""
        em.raw("gx = g * dydx")
        for k in range(self.k):
            em.raw(f"h_{k} = tl.where(mask, g * dydr_{k}, 0.0)")
            em.raw(f"du_{k} = inv_{k} * (h_{k} - r_{k} * {mean_hr.format(k=k)})")
            em.raw(f"gx = gx + du_{k} * dudx_{k}")
        return [f"tl.where(mask, {' + '.join([f'g * dydp_{i}'] + [f'du_{k} * dudp_{k}_{i}' for k in range(self.k)])}"
                ", 0.0)" for i in range(self.np)]


_EPS = repr(float(RMSNORM_EPS))
_LOAD_X = "x = tl.load(x_ptr + {offs}, mask=mask, other=0.0).to(tl.float32)"
_LOAD_G = "g = tl.load(g_ptr + {offs}, mask=mask, other=0.0).to(tl.float32)"


def _row_block_kernels(parts: _RowParts) -> tuple[str, _Emitter, _Emitter]:
    """``fwd``/``bwd``: one program per row, the whole row in one block."""
    fwd = parts.emitter()
    fwd.emit(parts.u(), "_u")
    parts.masked_u(fwd)
    parts.inv(fwd, "tl.sum(u_{k} * u_{k}, axis=0)")
    parts.r(fwd)
    fwd.emit([("y", parts.outer)], "_f")

    bwd = parts.emitter()
    bwd.emit(parts.u(), "_u", parts.u_derivatives())
    parts.masked_u(bwd)
    parts.inv(bwd, "tl.sum(u_{k} * u_{k}, axis=0)")
    parts.r(bwd)
    bwd.emit([], "_b", parts.outer_derivatives())
    terms = parts.gx_and_param_terms(bwd, "(tl.sum(h_{k} * r_{k}, axis=0) / ncols)")
    for i, term in enumerate(terms):
        bwd.raw(f"tl.store(gp_ptr + row * {max(parts.np, 1)} + {i}, tl.sum({term}, axis=0))")

    body = f'''
@triton.jit
def fwd(x_ptr, p_ptr, y_ptr, ncols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = row * ncols
    cols = tl.arange(0, BLOCK)
    mask = cols < ncols
    {_LOAD_X.format(offs="base + cols")}
{chr(10).join(fwd.lines)}
    y = y + tl.zeros_like(x)
    tl.store(y_ptr + base + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def bwd(x_ptr, g_ptr, p_ptr, gx_ptr, gp_ptr, ncols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = row * ncols
    cols = tl.arange(0, BLOCK)
    mask = cols < ncols
    {_LOAD_X.format(offs="base + cols")}
    {_LOAD_G.format(offs="base + cols")}
{chr(10).join(bwd.lines)}
    gx = gx + tl.zeros_like(x)
    tl.store(gx_ptr + base + cols, gx.to(gx_ptr.dtype.element_ty), mask=mask)
'''
    return body, fwd, bwd


def _row_loop_kernels(parts: _RowParts) -> tuple[str, _Emitter, _Emitter]:
    """``fwd_long``/``bwd_long``: one program per row, which it walks in chunks of
    ``BLOCK`` (rows too long for one block's registers).  Sums over the row are
    float32 vectors of ``BLOCK`` accumulated chunk by chunk and reduced after the
    loop.  The forward reads the row twice (its sums of squares, then ``y``); the
    backward reads ``x`` three times and ``g`` twice (sums of squares, the sums
    of ``h_k * r_k``, then ``gx`` and the parameter gradients)."""
    # chunks are counted, and lanes kept relative to their chunk, so that nothing
    # overflows an int32 ``ncols`` near 2**31 (``start + lane`` or ``start += BLOCK``
    # would wrap, pass the mask and address memory outside the row)
    offs = "base + start + cols"

    def open_loop(em: _Emitter, *loads: str) -> None:
        """``for`` each chunk of the row, its lanes, mask and ``loads``; the emitter
        writes into the loop body until :func:`close_loop`."""
        em.raw("for chunk in range(0, (ncols - 1) // BLOCK + 1):")
        em.indent = "        "
        for line in ("start = chunk * BLOCK", "cols = tl.arange(0, BLOCK)", "mask = cols < ncols - start",
                     *(load.format(offs=offs) for load in loads)):
            em.raw(line)

    def close_loop(em: _Emitter) -> None:
        em.indent = "    "

    def sums_of_squares(em: _Emitter) -> None:
        for k in range(parts.k):
            em.raw(f"ss_{k} = tl.zeros([BLOCK], dtype=tl.float32)")
        open_loop(em, _LOAD_X)
        em.emit(parts.u(), "_u")
        parts.masked_u(em)
        for k in range(parts.k):
            em.raw(f"ss_{k} += u_{k} * u_{k}")
        close_loop(em)
        parts.inv(em, "tl.sum(ss_{k}, axis=0)")

    fwd = parts.emitter()
    sums_of_squares(fwd)
    open_loop(fwd, _LOAD_X)
    fwd.emit(parts.u(), "_u")
    parts.masked_u(fwd)
    parts.r(fwd)
    fwd.emit([("y", parts.outer)], "_f")
    fwd.raw("y = y + tl.zeros_like(x)")
    fwd.raw(f"tl.store(y_ptr + {offs}, y.to(y_ptr.dtype.element_ty), mask=mask)")

    bwd = parts.emitter()
    sums_of_squares(bwd)
    for k in range(parts.k):
        bwd.raw(f"hr_{k} = tl.zeros([BLOCK], dtype=tl.float32)")
    open_loop(bwd, _LOAD_X, _LOAD_G)
    bwd.emit(parts.u(), "_u")
    parts.masked_u(bwd)
    parts.r(bwd)
    bwd.emit([], "_h", parts.dydr())
    for k in range(parts.k):
        bwd.raw(f"hr_{k} += tl.where(mask, g * dydr_{k} * r_{k}, 0.0)")
    close_loop(bwd)
    for k in range(parts.k):
        bwd.raw(f"mean_hr_{k} = tl.sum(hr_{k}, axis=0) / ncols")
    for i in range(parts.np):
        bwd.raw(f"gp_{i} = tl.zeros([BLOCK], dtype=tl.float32)")
    open_loop(bwd, _LOAD_X, _LOAD_G)
    bwd.emit(parts.u(), "_u", parts.u_derivatives())
    parts.masked_u(bwd)
    parts.r(bwd)
    bwd.emit([], "_b", parts.outer_derivatives())
    terms = parts.gx_and_param_terms(bwd, "mean_hr_{k}")
    for i, term in enumerate(terms):
        bwd.raw(f"gp_{i} += {term}")
    bwd.raw("gx = gx + tl.zeros_like(x)")
    bwd.raw(f"tl.store(gx_ptr + {offs}, gx.to(gx_ptr.dtype.element_ty), mask=mask)")
    close_loop(bwd)
    for i in range(parts.np):
        bwd.raw(f"tl.store(gp_ptr + row * {max(parts.np, 1)} + {i}, tl.sum(gp_{i}, axis=0))")

    body = f'''
@triton.jit
def fwd_long(x_ptr, p_ptr, y_ptr, ncols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = row * ncols
{chr(10).join(fwd.lines)}


@triton.jit
def bwd_long(x_ptr, g_ptr, p_ptr, gx_ptr, gp_ptr, ncols, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    base = row * ncols
{chr(10).join(bwd.lines)}
'''
    return body, fwd, bwd


def _rowwise_source(candidate, deadline: Deadline) -> str:
    parts = _RowParts(candidate, deadline)
    block, fwd, bwd = _row_block_kernels(parts)
    looped, fwd_long, bwd_long = _row_loop_kernels(parts)
    return _module(block + "\n" + looped, [fwd, bwd, fwd_long, bwd_long], rowwise=True, nparams=parts.np)


def _module(body: str, emitters: list[_Emitter], rowwise: bool, nparams: int) -> str:
    needs = set().union(*(em.printer.needs for em in emitters))
    return _HEADER + helpers(needs) + body + f"\nROWWISE = {rowwise}\nNPARAMS = {nparams}\n"


def generate_source(candidate) -> str:
    """Triton module source for ``candidate`` (no user text, only printed nodes).

    Raises :class:`~actsearch.compile._printer.KernelTooLarge` (a ``CompileError``
    naming the candidate and the size) as soon as the source would pass
    :data:`MAX_SOURCE_CHARS`; printing stops there, so a pathological candidate
    fails in milliseconds instead of exhausting memory.  Raises
    :class:`~actsearch.compile._straight.GenerationLimit` past
    :data:`~actsearch.compile._straight.MAX_NODES` distinct sub-expressions in one
    kernel body or :data:`~actsearch.compile._straight.GENERATION_SECONDS` in all.
    """
    deadline = Deadline()
    try:
        source = (_elementwise_source(candidate, deadline) if candidate.elementwise
                  else _rowwise_source(candidate, deadline))
    except KernelTooLarge as exc:
        raise KernelTooLarge(exc.size, exc.limit, candidate.text) from None
    except GenerationLimit as exc:
        raise GenerationLimit(f"cannot generate the Triton kernel for {candidate.text!r}: {exc}") from None
    if len(source) > MAX_SOURCE_CHARS:
        raise KernelTooLarge(len(source), MAX_SOURCE_CHARS, candidate.text)
    return source


def kernel_size_ok(candidate) -> bool:
    """Whether ``candidate``'s Triton kernel stays within :data:`MAX_SOURCE_CHARS`.

    A screen for the trial before compiling: it generates the source (tens of
    milliseconds, stopping early for oversized ones) and is ``False`` only for
    :class:`KernelTooLarge`; other generation errors are left to the compile step.

    Example:
        >>> import actsearch
        >>> kernel_size_ok(actsearch.parse("tanh(tanh(tanh(tanh(x)**64)**64)**64)**64"))
        True
    """
    try:
        generate_source(candidate)
    except KernelTooLarge:
        return False
    except CompileError:  # not a matter of size: the compile step reports it
        pass
    return True
