"""The whitelist of functions a candidate expression may call: one table row each.

A :class:`FunctionSpec` row holds everything every consumer needs to know about
one function: the names the parser accepts, the sympy node (built here, with its
derivative, for activation primitives sympy lacks), the eager torch form, the
Triton and exported-source (torch text) forms, the float64 numpy form where the
rational fits need it, and the grammar's name for it as a unary operator.  The
parser, the canonical printer, the eager evaluator, both code printers, the
grammar and the fit targets all read this table, so a new whitelisted function
is one row (``register(FunctionSpec(...))`` at run time) plus its tests.

Templates (``triton``, ``source``) are Python expressions over the printed
arguments ``{0}``, ``{1}``; a template result counts as an atom, so a compound
template wraps itself in parentheses.  A Triton template calls ``tl.*`` and named
helpers (:mod:`actsearch.symbolic.helpers`): a row brings its own
(``triton_helpers``) and declares by name every helper its template calls
(``triton_needs``), its own or another row's; :func:`register` refuses a row whose
template calls a helper it did not declare or that no row defines.  The printers bind an argument the
template uses more than once to a temporary, so nesting never duplicates text.
Functions of two or more arguments (``arity=-1``: max, min) give a binary
template, folded from the left.

``rmsnorm`` is the one non-elementwise function: ``z / sqrt(mean(z**2) + 1e-6)``
over the last (feature) dimension, PolyNorm's normalisation.

Example:
    >>> from actsearch.symbolic.functions import FUNCTIONS
    >>> sorted(FUNCTIONS)[:4]
    ['Abs', 'abs', 'arctan', 'asinh']
    >>> spec = FUNCTIONS["swish"]
    >>> spec.name, spec.source, spec.grammar
    ('silu', 'F.silu({0})', 'swish')
    >>> spec.sympy_fn(sympy.Symbol("z")).diff(sympy.Symbol("z"))
    (z*(1 - sigmoid(z)) + 1)*sigmoid(z)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy
import torch
from sympy.core.logic import fuzzy_and
import torch.nn.functional as F

from .helpers import TritonHelper, calls, helper_names, helper_table, register_helper, unregister_helper

__all__ = [
    "revision",
    "FUNCTIONS",
    "BY_NODE",
    "BY_SYMPY_HEAD",
    "DERIVED_HEADS",
    "FunctionSpec",
    "register",
    "unregister",
    "spec_for",
    "table",
    "RMSNORM_EPS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "LEAKY_SLOPE",
    "ELU_ALPHA",
    "relu",
    "gelu",
    "silu",
    "sigmoid",
    "softplus",
    "softsign",
    "elu",
    "selu",
    "leaky_relu",
    "rmsnorm",
    "log",
    "sqrt",
    "is_elementwise",
]

RMSNORM_EPS = 1e-6
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0

_SQRT2 = sympy.sqrt(2)
_INV_SQRT_2PI = 1 / sympy.sqrt(2 * sympy.pi)


@dataclass(frozen=True, eq=False)
class FunctionSpec:
    """One whitelisted function.

    Attributes:
        name: the canonical name: the parser accepts it, canonical text prints it.
        torch_fn: eager implementation on tensors (the numerical reference).
        triton: Triton template over ``{0}``, ``{1}``... using only the
            interpreter-safe ``tl.*`` calls and the helpers named in ``triton_needs``;
            ``None`` when the kernel generator handles the node itself (``rmsnorm``).
        source: torch source template for exported files (``torch``, ``F``,
            ``x`` and the helpers in ``source_helpers`` are in scope).
        node: the sympy head the printers dispatch on.  Left ``None`` (with
            ``build`` ``None``) the row defines a new ``sympy.Function`` named
            ``name`` from ``value`` and ``derivative``.
        build: the constructor the parser calls when it is not ``node`` (a row
            that builds a sympy expression of other nodes has no node and no templates).
        arity: number of arguments, or -1 for two or more.
        aliases: further names the parser accepts.
        value: closed form for a numeric argument (the node's ``eval``).
        derivative: ``d/dz`` in terms of whitelisted functions (the node's
            ``fdiff``); sympy's own for its nodes.
        numpy: float64 numpy form, where the rational fits use it as a target.
        grammar: the grammar's name for it as a unary operator (``None``: not one).
        triton_helpers: the :class:`~actsearch.symbolic.helpers.TritonHelper` s this row
            defines (registered with it; other rows may call them too).
        triton_needs: the names of the helpers the Triton template calls (this row's,
            another row's or the shared ones); their own needs follow by themselves.
        source_helpers: Python definitions the source template calls.
        public: ``False`` for nodes only sympy introduces (sign, Heaviside): the
            printers know them, the parser does not accept them.
        partial: NaN for some real arguments (log, sqrt): sympy never sees inside the
            node, and a simplification that would drop it is refused
            (:mod:`actsearch.symbolic.domain`).
        rowwise: a reduction over the last dimension (``rmsnorm``).
        doc: one line for help texts.
    """

    name: str
    torch_fn: Callable[..., torch.Tensor]
    triton: str | None = None
    source: str | None = None
    node: type | None = None
    build: Callable[..., sympy.Expr] | None = None
    arity: int = 1
    aliases: tuple[str, ...] = ()
    value: Callable[[sympy.Expr], sympy.Expr] | None = None
    derivative: Callable[[sympy.Expr], sympy.Expr] | None = None
    numpy: Callable[[np.ndarray], np.ndarray] | None = None
    grammar: str | None = None
    triton_helpers: tuple[TritonHelper, ...] = ()
    triton_needs: tuple[str, ...] = ()
    source_helpers: str = ""
    public: bool = True
    partial: bool = False
    rowwise: bool = False
    doc: str = ""

    def __post_init__(self):
        object.__setattr__(self, "triton_helpers", tuple(self.triton_helpers))
        object.__setattr__(self, "triton_needs", tuple(self.triton_needs))
        if self.node is None and self.build is None:
            object.__setattr__(self, "node", _function_node(self))

    @property
    def sympy_fn(self) -> Callable[..., sympy.Expr]:
        """What the parser calls with the argument nodes."""
        return self.build or self.node

    def __repr__(self) -> str:
        return f"FunctionSpec({self.name!r})"


def _function_node(spec: FunctionSpec) -> type:
    """A ``sympy.Function`` subclass named ``spec.name``: ``eval`` folds numeric
    arguments with ``spec.value``, ``fdiff`` is ``spec.derivative``."""
    value, derivative = spec.value, spec.derivative

    def eval(cls, *args):
        if value is not None and all(a.is_number for a in args):
            return value(*args)
        return None

    namespace = {
        "__doc__": spec.doc,
        "__module__": __name__,
        "__qualname__": spec.name,
        "nargs": spec.arity if spec.arity > 0 else None,
        "eval": classmethod(eval),
        # real for real arguments (where defined): sympy keeps abs(exp(f(x))) real instead
        # of writing re(f(x)), which no parser reads back
        "_eval_is_extended_real": _real_where_defined if spec.partial else _real_of_real,
    }
    if derivative is not None:
        namespace["fdiff"] = lambda self, argindex=1: derivative(*self.args)
    return type(spec.name, (sympy.Function,), namespace)


def _real_of_real(self) -> bool | None:
    return fuzzy_and(a.is_extended_real for a in self.args)


def _real_where_defined(self) -> bool | None:
    # a partial function's node left unevaluated at a number (log(-2)) is NaN, not real
    return False if all(a.is_number for a in self.args) else _real_of_real(self)


def _positive(arg: sympy.Expr) -> sympy.Expr:
    return sympy.StrictGreaterThan(arg, 0)


def _step(z, above, below):
    return sympy.Piecewise((above, _positive(z)), (below, True))


def _fold(op):
    def fold(*zs):
        out = zs[0]
        for z in zs[1:]:
            out = op(out, z)
        return out

    return fold


def _np_sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _np_gelu(z: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


def _torch_rmsnorm(z: torch.Tensor) -> torch.Tensor:
    return z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + RMSNORM_EPS)


def _torch_heaviside(z: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    # sympy's Heaviside(0) is h0 (1/2 by default), as torch.maximum splits the gradient at ties
    return torch.where(z > 0, 1.0, torch.where(z < 0, 0.0, h0)).to(z.dtype)


def _lit(value: float) -> str:
    return repr(float(value))


_MAXIMUM = "tl.maximum({0}, {1}, propagate_nan=tl.PropagateNan.ALL)"
_MINIMUM = "tl.minimum({0}, {1}, propagate_nan=tl.PropagateNan.ALL)"

# -- Triton helpers of single rows (the shared ones: actsearch.symbolic.helpers) -------
_TANH_HELPER = TritonHelper("_tanh", '''@triton.jit
def _tanh(z):
    a = tl.abs(z)
    e = tl.exp(-2.0 * a)
    big = (1.0 - e) / (1.0 + e)
    z2 = z * z
    small = z * (1.0 + z2 * (-0.3333333333333333 + z2 * (0.13333333333333333 + z2 * (-0.05396825396825397
        + z2 * 0.021869488536155203))))
    r = tl.where(z < 0.0, -big, big)
    return tl.where(a < 0.125, small, r)
''')

_SOFTPLUS_HELPER = TritonHelper("_softplus", '''@triton.jit
def _softplus(z):
    return tl.maximum(z, 0.0) + _log1p(tl.exp(-tl.abs(z)))
''', needs=('_log1p',))

_ATAN_HELPER = TritonHelper("_atan", '''@triton.jit
def _atan(z):
    # Cephes atanf: reduce |z| to [0, tan(pi/8)], odd polynomial there
    a = tl.abs(z)
    big = a > 2.414213562373095
    mid = (a > 0.4142135623730950) & (~big)
    safe = tl.where(a == 0.0, 1.0, a)
    t = tl.where(big, -1.0 / safe, tl.where(mid, (a - 1.0) / (a + 1.0), a))
    base = tl.where(big, 1.5707963267948966, tl.where(mid, 0.7853981633974483, 0.0))
    t2 = t * t
    poly = (((8.05374449538e-2 * t2 - 1.38776856032e-1) * t2 + 1.99777106478e-1) * t2 - 3.33329491539e-1) * t2 * t + t
    r = base + poly
    return tl.where(z < 0.0, -r, r)
''')

_SINH_HELPER = TritonHelper("_sinh", '''@triton.jit
def _sinh(z):
    a = tl.abs(z)
    e = tl.exp(a)
    big = 0.5 * (e - 1.0 / e)
    big = tl.where(z < 0.0, -big, big)
    return tl.where(a < 1.0, 0.5 * (_expm1(z) - _expm1(-z)), big)
''', needs=('_expm1',))

_COSH_HELPER = TritonHelper("_cosh", '''@triton.jit
def _cosh(z):
    e = tl.exp(tl.abs(z))
    return 0.5 * (e + 1.0 / e)
''')

_ASINH_HELPER = TritonHelper("_asinh", '''@triton.jit
def _asinh(z):
    a = tl.abs(z)
    a2 = a * a
    small = _log1p(a + a2 / (1.0 + tl.sqrt(1.0 + a2)))
    large = tl.log(a) + 0.6931471805599453
    r = tl.where(a > 1.0e10, large, small)
    return tl.where(z < 0.0, -r, r)
''', needs=('_log1p',))

_SIGN_HELPER = TritonHelper("_sign", '''@triton.jit
def _sign(z):
    return tl.where(z > 0.0, 1.0, tl.where(z < 0.0, -1.0, 0.0))
''')

_HEAVISIDE_HELPER = TritonHelper("_heaviside", '''@triton.jit
def _heaviside(z, h0):
    return tl.where(z > 0.0, 1.0, tl.where(z < 0.0, 0.0, h0))
''')

_RMSNORM_SOURCE = f'''def _rmsnorm(z):
    """z / sqrt(mean(z**2 over the last dim) + {RMSNORM_EPS!r}): PolyNorm's row-wise normalisation."""
    return z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + {RMSNORM_EPS!r})
'''

# -- the table ----------------------------------------------------------------------
# Order matters only for listings; the grammar keeps its own operator order.
# ``relu``, ``sigmoid``... in the lambdas are the nodes bound below the table.
_ROWS = [
    FunctionSpec(
        "relu", torch.relu, "tl.where({0} < 0.0, 0.0, {0})", "torch.relu({0})",  # NaN stays NaN
        value=lambda z: sympy.Max(z, 0), derivative=lambda z: _step(z, 1, 0),
        numpy=lambda z: np.maximum(z, 0.0), grammar="relu", doc="max(x, 0)",
    ),
    FunctionSpec(
        "gelu", F.gelu, "(0.5 * {0} * (1.0 + tl.erf({0} * 0.7071067811865476)))", "F.gelu({0})",
        value=lambda z: z * (1 + sympy.erf(z / _SQRT2)) / 2,
        derivative=lambda z: (1 + sympy.erf(z / _SQRT2)) / 2 + z * _INV_SQRT_2PI * sympy.exp(-(z**2) / 2),
        numpy=_np_gelu, grammar="gelu", doc="x * Phi(x), exact erf form",
    ),
    FunctionSpec(
        "silu", F.silu, "({0} * tl.sigmoid({0}))", "F.silu({0})", aliases=("swish",),
        value=lambda z: z * sigmoid(z), derivative=lambda z: sigmoid(z) * (1 + z * (1 - sigmoid(z))),
        numpy=lambda z: z * _np_sigmoid(z), grammar="swish", doc="x * sigmoid(x)",
    ),
    FunctionSpec(
        "sigmoid", torch.sigmoid, "tl.sigmoid({0})", "torch.sigmoid({0})",
        value=lambda z: 1 / (1 + sympy.exp(-z)), derivative=lambda z: sigmoid(z) * (1 - sigmoid(z)),
        numpy=_np_sigmoid, grammar="sigmoid", doc="1 / (1 + exp(-x))",
    ),
    FunctionSpec("tanh", torch.tanh, "_tanh({0})", "torch.tanh({0})", node=sympy.tanh, numpy=np.tanh,
                 grammar="tanh", triton_helpers=(_TANH_HELPER,), triton_needs=("_tanh",), doc="hyperbolic tangent"),
    FunctionSpec("exp", torch.exp, "tl.exp({0})", "torch.exp({0})", node=sympy.exp, grammar="exp", doc="e**x"),
    # log and sqrt are nodes of their own, not sympy's log and Pow(z, 1/2): sympy would
    # simplify exp(log(x)) and sqrt(x)**2 to x, which is not NaN below 0
    FunctionSpec("log", torch.log, "tl.log({0})", "torch.log({0})", partial=True,
                 value=lambda z: sympy.log(z) if z.is_extended_nonnegative else None,
                 derivative=lambda z: 1 / z, doc="natural logarithm (nan below 0)"),
    FunctionSpec("erf", torch.erf, "tl.erf({0})", "torch.erf({0})", node=sympy.erf, grammar="erf",
                 doc="error function"),
    FunctionSpec("abs", torch.abs, "tl.abs({0})", "torch.abs({0})", node=sympy.Abs, aliases=("Abs",),
                 grammar="abs", doc="|x|"),
    FunctionSpec("sqrt", torch.sqrt, "tl.sqrt({0})", "torch.sqrt({0})", partial=True,
                 value=lambda z: sympy.sqrt(z) if z.is_extended_nonnegative else None,
                 derivative=lambda z: 1 / (2 * sqrt(z)), doc="square root (nan below 0)"),
    FunctionSpec(
        "softplus", F.softplus, "_softplus({0})", "F.softplus({0})",
        value=lambda z: sympy.log(1 + sympy.exp(z)), derivative=lambda z: sigmoid(z),
        grammar="softplus", triton_helpers=(_SOFTPLUS_HELPER,), triton_needs=("_softplus",), doc="log(1 + exp(x))",
    ),
    FunctionSpec(
        "softsign", F.softsign, "({0} / (1.0 + tl.abs({0})))", "F.softsign({0})",
        value=lambda z: z / (1 + abs(z)), derivative=lambda z: 1 / (1 + sympy.Abs(z)) ** 2,
        grammar="softsign", doc="x / (1 + |x|)",
    ),
    FunctionSpec(
        "elu", F.elu, f"tl.where({{0}} > 0.0, {{0}}, {_lit(ELU_ALPHA)} * _expm1({{0}}))", "F.elu({0})",
        triton_needs=("_expm1",),
        value=lambda z: sympy.Piecewise((z, z > 0), (ELU_ALPHA * (sympy.exp(z) - 1), True)),
        derivative=lambda z: _step(z, 1, ELU_ALPHA * sympy.exp(z)),
        grammar="elu", doc="x if x > 0 else exp(x) - 1",
    ),
    FunctionSpec(
        "selu", torch.selu,
        f"({_lit(SELU_SCALE)} * tl.where({{0}} > 0.0, {{0}}, {_lit(SELU_ALPHA)} * _expm1({{0}})))",
        "torch.selu({0})", triton_needs=("_expm1",),
        value=lambda z: SELU_SCALE * sympy.Piecewise((z, z > 0), (SELU_ALPHA * (sympy.exp(z) - 1), True)),
        derivative=lambda z: _step(z, sympy.Float(SELU_SCALE), sympy.Float(SELU_SCALE * SELU_ALPHA) * sympy.exp(z)),
        grammar="selu", doc="scaled elu with the SNN constants",
    ),
    FunctionSpec(
        "leaky_relu", lambda z: F.leaky_relu(z, LEAKY_SLOPE),
        f"tl.where({{0}} > 0.0, {{0}}, {_lit(LEAKY_SLOPE)} * {{0}})", f"F.leaky_relu({{0}}, {LEAKY_SLOPE!r})",
        value=lambda z: sympy.Piecewise((z, z > 0), (sympy.Float(LEAKY_SLOPE) * z, True)),
        derivative=lambda z: _step(z, 1, sympy.Float(LEAKY_SLOPE)),
        numpy=lambda z: np.where(z > 0, z, LEAKY_SLOPE * z), grammar="leaky_relu", doc="x if x > 0 else 0.01 x",
    ),
    FunctionSpec("sin", torch.sin, "tl.sin({0})", "torch.sin({0})", node=sympy.sin, grammar="sin", doc="sine"),
    FunctionSpec("cos", torch.cos, "tl.cos({0})", "torch.cos({0})", node=sympy.cos, grammar="cos", doc="cosine"),
    FunctionSpec("arctan", torch.atan, "_atan({0})", "torch.atan({0})", node=sympy.atan, aliases=("atan",),
                 grammar="arctan", triton_helpers=(_ATAN_HELPER,), triton_needs=("_atan",), doc="inverse tangent"),
    FunctionSpec("sinh", torch.sinh, "_sinh({0})", "torch.sinh({0})", node=sympy.sinh,
                 triton_helpers=(_SINH_HELPER,), triton_needs=("_sinh",), doc="hyperbolic sine"),
    FunctionSpec("cosh", torch.cosh, "_cosh({0})", "torch.cosh({0})", node=sympy.cosh,
                 triton_helpers=(_COSH_HELPER,), triton_needs=("_cosh",), doc="hyperbolic cosine"),
    FunctionSpec("asinh", torch.asinh, "_asinh({0})", "torch.asinh({0})", node=sympy.asinh,
                 triton_helpers=(_ASINH_HELPER,), triton_needs=("_asinh",), doc="inverse hyperbolic sine"),
    FunctionSpec("max", _fold(torch.maximum), _MAXIMUM, "torch.maximum({0}, {1})", node=sympy.Max, arity=-1,
                 doc="largest argument (two or more)"),
    FunctionSpec("min", _fold(torch.minimum), _MINIMUM, "torch.minimum({0}, {1})", node=sympy.Min, arity=-1,
                 doc="smallest argument (two or more)"),
    FunctionSpec(
        "rmsnorm", _torch_rmsnorm, None, "_rmsnorm({0})", rowwise=True, source_helpers=_RMSNORM_SOURCE,
        # a row of equal constants normalises elementwise
        value=lambda z: z / sympy.sqrt(z**2 + sympy.Float(RMSNORM_EPS)),
        doc="z / sqrt(mean(z**2, feature dim) + 1e-6); row-wise, no elementwise derivative",
    ),
    # nodes sympy introduces when it differentiates or simplifies; not for users
    FunctionSpec("sympy_log", torch.log, "tl.log({0})", "torch.log({0})", node=sympy.log, public=False, partial=True,
                 doc="sympy's log, where sympy makes one (d/de b**e)"),
    FunctionSpec("sign", torch.sign, "_sign({0})", "torch.sign({0})", node=sympy.sign, public=False,
                 triton_helpers=(_SIGN_HELPER,), triton_needs=("_sign",), doc="-1, 0 or 1"),
    FunctionSpec("Heaviside", _torch_heaviside, "_heaviside({0}, {1})", "torch.heaviside({0}, {1})",
                 node=sympy.Heaviside, arity=2, public=False, triton_helpers=(_HEAVISIDE_HELPER,),
                 triton_needs=("_heaviside",),
                 doc="step function, value h0 at 0"),
]

#: name accepted by the parser -> spec (aliases included; public rows only)
FUNCTIONS: dict[str, FunctionSpec] = {}
#: sympy head (class) -> spec, for the evaluator and every printer
BY_NODE: dict[type, FunctionSpec] = {}
#: the former name of :data:`BY_NODE`
BY_SYMPY_HEAD = BY_NODE
_TABLE: list[FunctionSpec] = []


def revision() -> int:
    """A number that changes with what the code printers read from the table: a row
    added, removed or replaced, a template or a Triton helper edited (code generated
    from the table before may then be stale).  Valid within one process."""
    rows = tuple((s.name, s.node, s.triton, s.source, s.triton_needs, s.arity) for s in BY_NODE.values())
    return hash((rows, helper_table()))


def _helper_problem(spec: FunctionSpec) -> str:
    """Why ``spec``'s Triton helpers do not fit the table ('' when they do)."""
    mine = {h.name for h in spec.triton_helpers}
    known = helper_names() | mine
    for h in spec.triton_helpers:
        if h.name in helper_names():
            return f"it defines Triton helper {h.name!r}, which is already defined"
        missing = sorted(set(h.needs) - known)
        if missing:
            return f"its Triton helper {h.name!r} needs {missing[0]!r}, which no row defines"
    missing = sorted(set(spec.triton_needs) - known)
    if missing:
        return f"it needs Triton helper {missing[0]!r}, which no row defines"
    undeclared = sorted(set(calls(spec.triton or "")) - set(spec.triton_needs))
    if undeclared:
        return f"its Triton template calls {undeclared[0]} without declaring it in triton_needs"
    return ""


def register(spec: FunctionSpec) -> FunctionSpec:
    """Add a row: the parser, printers, evaluator and grammar use it from now on.

    Raises ``ValueError`` if one of its names or its node is already taken, or its
    Triton template calls a helper it does not declare or that no row defines.
    """
    names = (spec.name, *spec.aliases)
    clash = next((n for n in names if n in FUNCTIONS or any(s.name == n for s in _TABLE)), None)
    if clash or spec.node in BY_NODE:
        raise ValueError(f"function {clash or spec.name!r} is already in the table")
    bad = next((n for n in names if not n.isidentifier() or n.startswith("_") or n in ("x", "pi")), None)
    if spec.public and bad:
        raise ValueError(f"function name {bad!r} is not one the parser can read as a function")
    problem = _helper_problem(spec)
    if problem:
        raise ValueError(f"function {spec.name!r}: {problem}")
    for h in spec.triton_helpers:
        register_helper(h)
    _TABLE.append(spec)
    for n in names if spec.public else ():
        FUNCTIONS[n] = spec
    if spec.node is not None:
        BY_NODE[spec.node] = spec
    return spec


def unregister(name: str) -> None:
    """Remove the row named ``name`` (its aliases, node and Triton helpers go with it).

    Raises ``ValueError`` while another row still needs one of its helpers.
    """
    spec = next((s for s in _TABLE if s.name == name), None)
    if spec is None:
        raise KeyError(name)
    mine = {h.name for h in spec.triton_helpers}
    user = next((s for s in _TABLE if s is not spec
                 and mine & set(s.triton_needs).union(*(h.needs for h in s.triton_helpers))), None)
    if user is not None:
        raise ValueError(f"function {name!r}: row {user.name!r} still needs its Triton helpers")
    _TABLE.remove(spec)
    for n in [n for n, s in FUNCTIONS.items() if s is spec]:
        del FUNCTIONS[n]
    if spec.node is not None:
        BY_NODE.pop(spec.node, None)
    for h in mine:
        unregister_helper(h)


def table() -> tuple[FunctionSpec, ...]:
    """Every row, in table order."""
    return tuple(_TABLE)


def spec_for(expr: sympy.Basic) -> FunctionSpec | None:
    """The row whose node is ``expr``'s head, or ``None``."""
    return BY_NODE.get(type(expr))


for _row in _ROWS:
    register(_row)
del _row

relu = FUNCTIONS["relu"].node
gelu = FUNCTIONS["gelu"].node
silu = FUNCTIONS["silu"].node
sigmoid = FUNCTIONS["sigmoid"].node
softplus = FUNCTIONS["softplus"].node
softsign = FUNCTIONS["softsign"].node
elu = FUNCTIONS["elu"].node
selu = FUNCTIONS["selu"].node
leaky_relu = FUNCTIONS["leaky_relu"].node
rmsnorm = FUNCTIONS["rmsnorm"].node
log = FUNCTIONS["log"].node
sqrt = FUNCTIONS["sqrt"].node

#: sympy nodes produced by differentiation or auto-evaluation that need no user name.
DERIVED_HEADS = (sympy.Piecewise, sympy.sign, sympy.Heaviside)


def is_elementwise(expr: sympy.Expr) -> bool:
    """True unless ``expr`` contains a row-wise function (``rmsnorm``)."""
    return not any(expr.has(s.node) for s in _TABLE if s.rowwise)
