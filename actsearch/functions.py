"""The whitelist of functions a candidate expression may call.

Each entry ties a name the parser accepts to a sympy node (so candidates can be
differentiated and printed symbolically) and to a torch implementation (so the
eager reference module can evaluate it).  Activation primitives that sympy lacks
(relu, gelu, silu, ...) are sympy ``Function`` subclasses whose ``fdiff`` gives the
derivative in terms of other whitelisted functions, which is what the kernel
printers differentiate.

``rmsnorm`` is the one non-elementwise function: ``z / sqrt(mean(z**2) + 1e-6)``
over the last (feature) dimension, PolyNorm's normalisation.

Example:
    >>> from actsearch.functions import FUNCTIONS
    >>> sorted(FUNCTIONS)[:4]
    ['abs', 'arctan', 'atan', 'cos']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy
import torch
import torch.nn.functional as F

__all__ = [
    "FUNCTIONS",
    "FunctionSpec",
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
    "is_elementwise",
]

RMSNORM_EPS = 1e-6
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0

_SQRT2 = sympy.sqrt(2)
_INV_SQRT_2PI = 1 / sympy.sqrt(2 * sympy.pi)


def _positive(arg: sympy.Expr) -> sympy.Expr:
    return sympy.StrictGreaterThan(arg, 0)


class relu(sympy.Function):
    """max(x, 0); derivative 0 at x = 0 as in torch."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return sympy.Max(arg, 0)

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sympy.Piecewise((1, _positive(z)), (0, True))


class sigmoid(sympy.Function):
    """1 / (1 + exp(-x))."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return 1 / (1 + sympy.exp(-arg))

    def fdiff(self, argindex=1):
        return self * (1 - self)


class silu(sympy.Function):
    """x * sigmoid(x) (swish with beta = 1)."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return arg * sigmoid(arg)

    def fdiff(self, argindex=1):
        z = self.args[0]
        s = sigmoid(z)
        return s * (1 + z * (1 - s))


class gelu(sympy.Function):
    """x * Phi(x) with the exact (erf) normal CDF."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return arg * (1 + sympy.erf(arg / _SQRT2)) / 2

    def fdiff(self, argindex=1):
        z = self.args[0]
        return (1 + sympy.erf(z / _SQRT2)) / 2 + z * _INV_SQRT_2PI * sympy.exp(-(z**2) / 2)


class softplus(sympy.Function):
    """log(1 + exp(x)), evaluated stably."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return sympy.log(1 + sympy.exp(arg))

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])


class softsign(sympy.Function):
    """x / (1 + |x|)."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return arg / (1 + abs(arg))

    def fdiff(self, argindex=1):
        return 1 / (1 + sympy.Abs(self.args[0])) ** 2


class elu(sympy.Function):
    """x for x > 0, exp(x) - 1 otherwise (alpha = 1)."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return sympy.Piecewise((arg, arg > 0), (ELU_ALPHA * (sympy.exp(arg) - 1), True))

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sympy.Piecewise((1, _positive(z)), (ELU_ALPHA * sympy.exp(z), True))


class selu(sympy.Function):
    """scale * (x for x > 0, alpha * (exp(x) - 1) otherwise), the SNN constants."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            inner = sympy.Piecewise((arg, arg > 0), (SELU_ALPHA * (sympy.exp(arg) - 1), True))
            return SELU_SCALE * inner

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sympy.Piecewise(
            (sympy.Float(SELU_SCALE), _positive(z)),
            (sympy.Float(SELU_SCALE * SELU_ALPHA) * sympy.exp(z), True),
        )


class leaky_relu(sympy.Function):
    """x for x > 0, 0.01 x otherwise."""

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:
            return sympy.Piecewise((arg, arg > 0), (sympy.Float(LEAKY_SLOPE) * arg, True))

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sympy.Piecewise((1, _positive(z)), (sympy.Float(LEAKY_SLOPE), True))


class rmsnorm(sympy.Function):
    """z / sqrt(mean(z**2 over the feature dimension) + 1e-6): a row-wise reduction.

    It has no elementwise derivative; candidates containing it are evaluated and
    compiled row-wise (see :func:`is_elementwise`).
    """

    nargs = 1

    @classmethod
    def eval(cls, arg):
        if arg.is_number:  # a row of equal constants normalises elementwise
            return arg / sympy.sqrt(arg**2 + sympy.Float(RMSNORM_EPS))


def _torch_rmsnorm(z: torch.Tensor) -> torch.Tensor:
    return z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + RMSNORM_EPS)


def _torch_leaky(z: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(z, LEAKY_SLOPE)


@dataclass(frozen=True)
class FunctionSpec:
    """One whitelisted function: its canonical name, arity, sympy node and torch op."""

    name: str
    arity: int  # -1: two or more arguments
    sympy_fn: Callable[..., sympy.Expr]
    torch_fn: Callable[..., torch.Tensor]
    doc: str


def _spec(name, arity, sympy_fn, torch_fn, doc):
    return FunctionSpec(name, arity, sympy_fn, torch_fn, doc)


def _max(*zs):
    out = zs[0]
    for z in zs[1:]:
        out = torch.maximum(out, z)
    return out


def _min(*zs):
    out = zs[0]
    for z in zs[1:]:
        out = torch.minimum(out, z)
    return out


_CANONICAL = [
    _spec("relu", 1, relu, torch.relu, "max(x, 0)"),
    _spec("gelu", 1, gelu, F.gelu, "x * Phi(x), exact erf form"),
    _spec("silu", 1, silu, F.silu, "x * sigmoid(x)"),
    _spec("sigmoid", 1, sigmoid, torch.sigmoid, "1 / (1 + exp(-x))"),
    _spec("tanh", 1, sympy.tanh, torch.tanh, "hyperbolic tangent"),
    _spec("exp", 1, sympy.exp, torch.exp, "e**x"),
    _spec("log", 1, sympy.log, torch.log, "natural logarithm (nan below 0)"),
    _spec("erf", 1, sympy.erf, torch.erf, "error function"),
    _spec("abs", 1, sympy.Abs, torch.abs, "|x|"),
    _spec("sqrt", 1, sympy.sqrt, torch.sqrt, "square root (nan below 0)"),
    _spec("softplus", 1, softplus, F.softplus, "log(1 + exp(x))"),
    _spec("softsign", 1, softsign, F.softsign, "x / (1 + |x|)"),
    _spec("elu", 1, elu, F.elu, "x if x > 0 else exp(x) - 1"),
    _spec("selu", 1, selu, torch.selu, "scaled elu with the SNN constants"),
    _spec("leaky_relu", 1, leaky_relu, _torch_leaky, "x if x > 0 else 0.01 x"),
    _spec("sin", 1, sympy.sin, torch.sin, "sine"),
    _spec("cos", 1, sympy.cos, torch.cos, "cosine"),
    _spec("arctan", 1, sympy.atan, torch.atan, "inverse tangent"),
    _spec("sinh", 1, sympy.sinh, torch.sinh, "hyperbolic sine"),
    _spec("cosh", 1, sympy.cosh, torch.cosh, "hyperbolic cosine"),
    _spec("asinh", 1, sympy.asinh, torch.asinh, "inverse hyperbolic sine"),
    _spec("max", -1, sympy.Max, _max, "largest argument (two or more)"),
    _spec("min", -1, sympy.Min, _min, "smallest argument (two or more)"),
    _spec("rmsnorm", 1, rmsnorm, _torch_rmsnorm, "z / sqrt(mean(z**2, feature dim) + 1e-6)"),
]

#: name accepted by the parser -> spec.  Aliases map to the canonical spec.
FUNCTIONS: dict[str, FunctionSpec] = {s.name: s for s in _CANONICAL}
FUNCTIONS["swish"] = FUNCTIONS["silu"]
FUNCTIONS["atan"] = FUNCTIONS["arctan"]
FUNCTIONS["Abs"] = FUNCTIONS["abs"]

#: sympy head (class) -> canonical spec, for the evaluator and printers.
BY_SYMPY_HEAD: dict[type, FunctionSpec] = {}
for _s in _CANONICAL:
    _head = _s.sympy_fn if isinstance(_s.sympy_fn, type) else None
    if _head is None:  # sympy.sqrt is a helper returning Pow; handled as Pow
        continue
    BY_SYMPY_HEAD[_head] = _s

#: sympy nodes produced by differentiation or auto-evaluation that need no user name.
DERIVED_HEADS = (sympy.Piecewise, sympy.sign, sympy.Heaviside)


def is_elementwise(expr: sympy.Expr) -> bool:
    """True unless ``expr`` contains a row-wise function (``rmsnorm``)."""
    return not expr.has(rmsnorm)
