"""Print a candidate's sympy expression as plain PyTorch source text.

:class:`TorchSourcePrinter` has one ``_print_<Node>`` method per sympy node type a
candidate may contain (see :mod:`actsearch.functions`).  Its output uses only
``torch``, ``torch.nn.functional as F`` and the ``_rmsnorm`` helper that
:mod:`actsearch.export` writes next to it, so an exported file needs nothing else.

Example:
    >>> import actsearch
    >>> from actsearch._torch_source import TorchSourcePrinter
    >>> c = actsearch.parse("x*sigmoid(a*x); a=1.5")
    >>> TorchSourcePrinter({"a": "a"}).doprint(c.expr)
    'x*torch.sigmoid(a*x)'
"""

from __future__ import annotations

import math

import sympy
import torch
from sympy.printing.printer import Printer

from ._parser import X
from ._torch_eval import build_torch_fn
from .errors import ExpressionError
from .functions import LEAKY_SLOPE, RMSNORM_EPS

__all__ = ["TorchSourcePrinter", "number_literal", "RMSNORM_SOURCE"]

#: source of the row-wise helper the printer's ``rmsnorm`` output calls
RMSNORM_SOURCE = f'''def _rmsnorm(z):
    """z / sqrt(mean(z**2 over the last dim) + {RMSNORM_EPS!r}): PolyNorm's row-wise normalisation."""
    return z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + {RMSNORM_EPS!r})
'''

# binding strength of what a printed node produces, to decide on parentheses
_ATOM, _POW, _UNARY, _MUL, _ADD = 5, 4, 3, 2, 1


def number_literal(value: float) -> str:
    """Python literal reading back as exactly ``value`` (``float`` repr, ints without '.0')."""
    if not math.isfinite(value):
        raise ExpressionError(f"constant {value} is not a finite real number", repr(value), 0)
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _constant(node: sympy.Expr) -> float:
    """The float value of a numeric node, as the eager reference computes it."""
    try:
        value = complex(node)
    except TypeError:  # e.g. relu(pi) has no evalf: evaluate it the way the reference does
        value = complex(float(build_torch_fn(node)(torch.zeros((), dtype=torch.float64), {})))
    if value.imag != 0:
        raise ExpressionError(f"constant {node} is not real", str(node), 0)
    return value.real


class TorchSourcePrinter(Printer):
    """sympy expression -> a Python expression over tensors ``x`` and parameters.

    Args:
        names: parameter name -> the local variable holding it in the generated code.

    Every numeric sub-expression is folded to one literal, as the eager reference
    folds it, so outputs agree to rounding.
    """

    printmethod = "_torch_source"

    def __init__(self, names: dict[str, str] | None = None):
        super().__init__()
        self.names = dict(names or {})

    # -- dispatch and precedence -------------------------------------------------
    def doprint(self, expr) -> str:
        return self._text(expr)[0]

    def _text(self, node) -> tuple[str, int]:
        """(source, binding strength) of ``node``."""
        if isinstance(node, sympy.Basic) and node.is_number:
            literal = number_literal(_constant(node))
            return literal, (_UNARY if literal.startswith("-") else _ATOM)
        for cls in type(node).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                result = method(node)
                return result if isinstance(result, tuple) else (result, _ATOM)
        raise ExpressionError(f"no torch source for {type(node).__name__}", str(node), 0)

    def _wrap(self, node, strength: int) -> str:
        text, own = self._text(node)
        return text if own >= strength else f"({text})"

    def _arg(self, node) -> str:
        return self._text(node)[0]

    def _call(self, fn: str, node) -> str:
        return f"{fn}({', '.join(self._arg(a) for a in node.args)})"

    def _tensor_arg(self, node) -> str:
        # torch.maximum / torch.where need tensors: a bare constant becomes one shaped like x
        if node.is_number:
            return f"torch.full_like(x, {number_literal(_constant(node))})"
        return self._arg(node)

    # -- leaves ----------------------------------------------------------------
    def _print_Symbol(self, node):
        if node == X:
            return "x"
        if node.name not in self.names:
            raise ExpressionError(f"parameter {node.name!r} has no variable", str(node), 0)
        return self.names[node.name]

    def _print_Number(self, node):
        literal = number_literal(_constant(node))
        return literal, (_UNARY if literal.startswith("-") else _ATOM)

    # -- arithmetic ------------------------------------------------------------
    def _print_Add(self, node):
        terms = list(node.as_ordered_terms())
        out = self._wrap(terms[0], _ADD)
        for term in terms[1:]:
            coeff, rest = term.as_coeff_Mul()
            if coeff.is_number and coeff < 0:
                out += " - " + self._wrap(-term, _MUL)
            else:
                out += " + " + self._wrap(term, _MUL)
        return out, _ADD

    def _print_Mul(self, node):
        coeff, rest = node.as_coeff_Mul()
        if coeff.is_negative:
            return "-" + self._wrap(-coeff * rest, _MUL), _UNARY
        numer = [] if coeff == 1 else [coeff]
        denom = []
        for factor in sympy.Mul.make_args(rest):
            if factor.is_Pow and factor.exp.is_Rational and factor.exp < 0 and not factor.base.is_number:
                denom.append(factor.base ** (-factor.exp))
            else:
                numer.append(factor)
        top = "*".join(self._wrap(f, _MUL + 1) for f in numer) if numer else "1"
        if not denom:
            return top, _MUL
        bottom = "*".join(self._wrap(f, _MUL + 1) for f in denom)
        return f"{top}/{bottom if len(denom) == 1 else '(' + bottom + ')'}", _MUL

    def _print_Pow(self, node):
        base, exp = node.base, node.exp
        if exp == 2:
            return f"torch.square({self._arg(base)})"
        if exp == sympy.Rational(1, 2):
            return f"torch.sqrt({self._arg(base)})"
        if exp == -sympy.Rational(1, 2):
            return f"torch.rsqrt({self._arg(base)})"
        if exp == -1:
            return f"torch.reciprocal({self._arg(base)})"
        if base.is_number:  # c**expr: exp(log(c)*expr) would change rounding; keep pow
            return f"torch.pow({number_literal(_constant(base))}, {self._arg(exp)})"
        return f"torch.pow({self._arg(base)}, {self._arg(exp)})"

    # -- whitelisted functions -------------------------------------------------
    def _print_relu(self, node):
        return self._call("torch.relu", node)

    def _print_gelu(self, node):
        return self._call("F.gelu", node)  # exact erf form, torch's default

    def _print_silu(self, node):
        return self._call("F.silu", node)

    def _print_sigmoid(self, node):
        return self._call("torch.sigmoid", node)

    def _print_softplus(self, node):
        return self._call("F.softplus", node)

    def _print_softsign(self, node):
        return self._call("F.softsign", node)

    def _print_elu(self, node):
        return self._call("F.elu", node)

    def _print_selu(self, node):
        return self._call("torch.selu", node)

    def _print_leaky_relu(self, node):
        return f"F.leaky_relu({self._arg(node.args[0])}, {LEAKY_SLOPE!r})"

    def _print_rmsnorm(self, node):
        return self._call("_rmsnorm", node)

    def _print_tanh(self, node):
        return self._call("torch.tanh", node)

    def _print_exp(self, node):
        return self._call("torch.exp", node)

    def _print_log(self, node):
        return self._call("torch.log", node)

    def _print_erf(self, node):
        return self._call("torch.erf", node)

    def _print_Abs(self, node):
        return self._call("torch.abs", node)

    def _print_sin(self, node):
        return self._call("torch.sin", node)

    def _print_cos(self, node):
        return self._call("torch.cos", node)

    def _print_atan(self, node):
        return self._call("torch.atan", node)

    def _print_sinh(self, node):
        return self._call("torch.sinh", node)

    def _print_cosh(self, node):
        return self._call("torch.cosh", node)

    def _print_asinh(self, node):
        return self._call("torch.asinh", node)

    def _print_Max(self, node):
        return self._fold("torch.maximum", node.args)

    def _print_Min(self, node):
        return self._fold("torch.minimum", node.args)

    def _fold(self, fn: str, args) -> str:
        out = self._tensor_arg(args[0])
        for a in args[1:]:
            out = f"{fn}({out}, {self._tensor_arg(a)})"
        return out

    # -- nodes sympy itself may introduce (derivatives, auto-evaluation) ---------
    def _print_sign(self, node):
        return self._call("torch.sign", node)

    def _print_Heaviside(self, node):
        z = self._tensor_arg(node.args[0])
        return f"torch.heaviside({z}, torch.full_like(x, 0.5))"

    def _print_Piecewise(self, node):
        pieces = list(node.args)
        if pieces[-1][1] is not sympy.true:
            raise ExpressionError("Piecewise without a default branch", str(node), 0)
        out = self._tensor_arg(pieces[-1][0])
        for value, cond in reversed(pieces[:-1]):
            out = f"torch.where({self._print_relation(cond)}, {self._tensor_arg(value)}, {out})"
        return out

    def _print_relation(self, cond) -> str:
        ops = {
            sympy.StrictGreaterThan: ">",
            sympy.GreaterThan: ">=",
            sympy.StrictLessThan: "<",
            sympy.LessThan: "<=",
            sympy.Eq: "==",
            sympy.Ne: "!=",
        }
        for cls, op in ops.items():
            if isinstance(cond, cls):
                return f"{self._wrap(cond.lhs, _UNARY)} {op} {self._wrap(cond.rhs, _UNARY)}"
        raise ExpressionError(f"unsupported condition {cond}", str(cond), 0)
